"""DKIM for the relay: keys, signing, removing the signatures our change broke, verification.

Why this package exists: a rejection the relay changes must reach the receiver with a valid signature
aligned with its From domain, or it fails DMARC.  The pieces, each in its own module:

- ``keys``: loading, checking and generating keys, and the DNS TXT records that publish them;
- ``canon``: the header scan and RFC 6376 canonicalisation, byte for byte what dkimpy computes;
- ``sign``: the signer (one DKIM-Signature per key of the From domain);
- ``broken``: which earlier signatures our change broke, and removing them;
- ``verify``: dkimpy's verifier against a key in memory (the self-check and the tests).

Nothing here touches DNS.
"""

from relay_smtp.mail.dkim.broken import removable_signatures, strip_broken_signatures, stripped_and_read
from relay_smtp.mail.dkim.canon import HeaderField, header_fields
from relay_smtp.mail.dkim.keys import (
    MIN_RSA_BITS,
    Algorithm,
    DkimKeyError,
    LoadedKey,
    PrivateKey,
    check_key,
    dns_record_name,
    generate_key,
    load_key,
    normalise_domain,
    txt_strings,
    write_private_key,
)
from relay_smtp.mail.dkim.sign import (
    OVERSIGNED_HEADERS,
    SIGNED_HEADERS,
    DkimSigner,
    SignResult,
    from_domain,
    signed_header_names,
)
from relay_smtp.mail.dkim.verify import verify_with_key

__all__ = [
    "MIN_RSA_BITS",
    "OVERSIGNED_HEADERS",
    "SIGNED_HEADERS",
    "Algorithm",
    "DkimKeyError",
    "DkimSigner",
    "HeaderField",
    "LoadedKey",
    "PrivateKey",
    "SignResult",
    "check_key",
    "dns_record_name",
    "from_domain",
    "generate_key",
    "header_fields",
    "load_key",
    "normalise_domain",
    "removable_signatures",
    "signed_header_names",
    "strip_broken_signatures",
    "stripped_and_read",
    "txt_strings",
    "verify_with_key",
    "write_private_key",
]

"""Writes the pipeline fixture messages (hand-written texts; run once, results committed).

ISO-2022-JP bodies carry NEC row-13 characters (①, ㍉) and the IBM/NEC-selected 髙, which Python's
iso-2022-jp codec cannot encode: their JIS bytes come from cp932's table, as Japanese mailers do
(the relay's own encoder, `relay_smtp.mail.part_charset.encode_text`).
"""

from __future__ import annotations

import base64
import quopri
import zlib
from pathlib import Path

from relay_smtp.mail.part_charset import encode_text, resolve_charset

HERE = Path(__file__).parent


def iso2022jp(text: str) -> bytes:
    """ESC $ B for every double-byte run, with cp932's table for the extension characters."""
    return encode_text(text, resolve_charset("iso-2022-jp"))


def lines(text: str) -> str:
    return "\r\n".join(text.strip("\n").split("\n")) + "\r\n"


JA_BODY = """髙橋 様

この度は弊社求人にご応募いただき、誠にありがとうございました。
慎重に選考を重ねました結果、誠に残念ながら今回は採用を見送らせていただくことになりました。
①書類選考の結果につきましては、以上の通りでございます。
今後のご活躍を心よりお祈り申し上げます。

--
株式会社サンプル 人事部 採用担当
"""

EN_BODY = """Dear Alex,

Thank you for your interest in the Data Analyst position. After careful
consideration we have decided not to move forward with your application.

We wish you the best of luck in your job search.

--
ACME Recruiting
"""


def write(name: str, data: str | bytes) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    (HERE / name).write_bytes(raw)


def headers(subject: str, content_type: str, extra: str = "") -> str:
    return lines(
        f"""From: =?UTF-8?B?{base64.b64encode("採用担当".encode()).decode()}?= <recruit@sample.co.jp>
To: cand@example.org
Subject: {subject}
Date: Mon, 16 Nov 2026 10:00:00 +0900
Message-ID: <fixture-{zlib.crc32(subject.encode() + content_type.encode())}@sample.co.jp>
MIME-Version: 1.0
Content-Type: {content_type}{extra}"""
    )


def main() -> None:
    ja_jis = b"\r\n".join(iso2022jp(line) for line in JA_BODY.strip("\n").split("\n")) + b"\r\n"
    html_ja = '<html><head><meta charset="iso-2022-jp"></head><body><p>髙橋 様</p><p>誠に残念ながら今回は見送らせていただきます。</p><p>①以上</p></body></html>'
    html_jis = iso2022jp(html_ja) + b"\r\n"
    write(
        "iso2022jp_alternative.eml",
        headers(
            "=?ISO-2022-JP?B?GyRCQSo5TTdrMkwkTiQ0T0InbRsoQg==?=", 'multipart/alternative; boundary="alt"'
        ).encode()
        + b"\r\n--alt\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + ja_jis
        + b"\r\n--alt\r\nContent-Type: text/html; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + html_jis
        + b"\r\n--alt--\r\n",
    )
    write(
        "shift_jis_plain.eml",
        headers(
            "=?UTF-8?B?6YG46ICD57WQ5p6c?=",
            "text/plain; charset=Shift_JIS",
            "\nContent-Transfer-Encoding: 8bit",
        ).encode()
        + b"\r\n"
        + lines(JA_BODY).encode("cp932"),
    )
    write(
        "euc_jp_plain.eml",
        headers(
            "=?UTF-8?B?6YG46ICD57WQ5p6c?=", "text/plain; charset=EUC-JP", "\nContent-Transfer-Encoding: 8bit"
        ).encode()
        + b"\r\n"
        + lines(JA_BODY.replace("①", "1.").replace("髙", "高")).encode("euc_jp"),
    )
    b64 = base64.encodebytes(lines(JA_BODY).encode("utf-8")).replace(b"\n", b"\r\n")
    write(
        "utf8_base64.eml",
        headers(
            "=?UTF-8?B?6YG46ICD57WQ5p6c?=", "text/plain; charset=UTF-8", "\nContent-Transfer-Encoding: base64"
        ).encode()
        + b"\r\n"
        + b64,
    )
    long_line = "We truly appreciated the time you spent with our team = and regret that we cannot offer you a role at this stage of the process."
    qp = quopri.encodestring((EN_BODY + long_line + "\n").encode("utf-8")).replace(b"\n", b"\r\n")
    write(
        "qp_soft_breaks.eml",
        headers(
            "Your application", "text/plain; charset=utf-8", "\nContent-Transfer-Encoding: quoted-printable"
        ).encode()
        + b"\r\n"
        + qp,
    )
    png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).replace(b"\n", b"\r\n")
    write(
        "related_inline_image.eml",
        headers("Your application", 'multipart/related; boundary="rel"; type="text/html"')
        + "\r\n"
        + lines(
            """
--rel
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<html><body><img src="cid:logo@acme"><p>Dear Alex,</p><p>Unfortunately we have decided not to move forward.</p></body></html>
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@acme>
Content-Disposition: inline; filename="logo.png"
"""
        )
        + "\r\n"
        + png.decode()
        + "--rel--\r\n",
    )
    pdf = base64.encodebytes(b"%PDF-1.4\n% relay-smtp fixture\n" + bytes(range(256)) * 4).replace(
        b"\n", b"\r\n"
    )
    write(
        "mixed_pdf_attachment.eml",
        headers("Your application", 'multipart/mixed; boundary="mix"')
        + "\r\n--mix\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        + lines(EN_BODY)
        + '\r\n--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="letter.pdf"\r\n'
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + pdf.decode()
        + "\r\n--mix--\r\n",
    )
    write(
        "gmail_reply_html.eml",
        headers("Re: Interview", 'multipart/alternative; boundary="g"')
        + "\r\n"
        + lines(
            """
--g
Content-Type: text/plain; charset="UTF-8"

Dear Alex, unfortunately we will not be moving forward.

On Mon, Nov 9, 2026 at 9:00 AM Alex <cand@example.org> wrote:
> Any news about my application?

--g
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Dear Alex, unfortunately we will not be moving forward.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Nov 9, 2026 at 9:00 AM Alex wrote:<br></div><blockquote class="gmail_quote">Any news about my application?</blockquote></div>

--g--
"""
        ),
    )
    write(
        "untouched_signed.eml",
        headers(
            "Your application",
            'multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s"',
        )
        + lines(
            """
--s
Content-Type: text/plain; charset=us-ascii

We regret to inform you.
--s
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Transfer-Encoding: base64

MIIBdummysignature
--s--
"""
        ),
    )
    write(
        "untouched_calendar.eml",
        headers("Interview", 'multipart/alternative; boundary="c"')
        + "\r\n"
        + lines(
            """
--c
Content-Type: text/plain; charset=us-ascii

Interview invitation.
--c
Content-Type: text/calendar; method=REQUEST; charset=utf-8

BEGIN:VCALENDAR
METHOD:REQUEST
END:VCALENDAR
--c--
"""
        ),
    )
    write(
        "untouched_already_injected.eml",
        headers("Your application", "text/plain; charset=us-ascii", "\nX-Career-Relay: injected")
        + "\r\nWe regret.\r\n\r\nhttps://relay.example.co.jp/r/abc\r\n[career-relay:v1]\r\n",
    )


if __name__ == "__main__":
    main()

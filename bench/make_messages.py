# ruff: noqa: E501  (the message texts and markup are kept line for line as mailers write them)
"""Write the benchmark's message files into bench/messages/ (deterministic; run.py calls it when one is missing).

Four messages, each of an exact wire size (CRLF line endings, as on the wire before the final dot):

- ja_rejection_20k.eml   20,480 octets: a Japanese rejection (お祈りメール) from a recruiting sender,
                         multipart/alternative with ISO-2022-JP text/plain and text/html (both 7bit)
- en_rejection_20k.eml   20,480 octets: an English rejection from an ATS-style template, text/plain
                         (us-ascii, 7bit) and text/html (UTF-8, quoted-printable)
- business_20k.eml       20,480 octets: ordinary business mail from the same company (quotation and
                         meeting notes), ISO-2022-JP text/plain + UTF-8 base64 HTML: not a rejection
- pdf_2mb.eml            2,097,152 octets: business mail with a PDF attachment (a real, valid PDF of
                         text pages and high-entropy image streams), base64: not a rejection

The envelope/From sender of the rejections is recruit@acme.co.jp (a recruiting sender in the bench
config); the business mail comes from sales@acme.co.jp (the company's domain, not recruiting).
HTML bodies reach their exact size with a hidden preheader filler (&zwnj;&nbsp;), the pattern
mail templates use to control the preview text; the PDF is sized by its image streams.
"""

from __future__ import annotations

import base64
import quopri
import random
import re
import zlib
from pathlib import Path

from relay_smtp.mail.part_charset import encode_text, resolve_charset

HERE = Path(__file__).resolve().parent
OUT = HERE / "messages"

KB20 = 20 * 1024
MB2 = 2 * 1024 * 1024

SENDER_RECRUIT = "recruit@acme.co.jp"
SENDER_SALES = "sales@acme.co.jp"
RECIPIENT = "candidate@example.org"

MESSAGES = {
    "ja-rejection": ("ja_rejection_20k.eml", SENDER_RECRUIT, KB20),
    "en-rejection": ("en_rejection_20k.eml", SENDER_RECRUIT, KB20),
    "business": ("business_20k.eml", SENDER_SALES, KB20),
    "pdf-2mb": ("pdf_2mb.eml", SENDER_SALES, MB2),
}

PAD = b"@@PAD@@"


def crlf(text: str) -> str:
    return "\r\n".join(text.strip("\n").split("\n")) + "\r\n"


def _jis_line(line: str) -> bytes:
    """One line in ISO-2022-JP as Windows mailers write it (cp932's JIS codes, so ～ and ① encode),
    back in ASCII mode at its end: the relay's own encoder, which does exactly that."""
    return encode_text(line, resolve_charset("iso-2022-jp"))


def jis(text: str) -> bytes:
    """ISO-2022-JP, line by line, so that every line ends in ASCII mode (RFC 1468)."""
    return b"\r\n".join(_jis_line(line) for line in text.split("\r\n"))


def b64_word(text: str, charset: str = "utf-8") -> str:
    raw = _jis_line(text) if charset.lower() == "iso-2022-jp" else text.encode(charset)
    return f"=?{charset}?B?{base64.b64encode(raw).decode('ascii')}?="


def filler(n: int) -> bytes:
    """Exactly n octets of preheader filler, in CRLF lines of at most 98 octets."""
    unit = b"&zwnj;&nbsp;"
    out = bytearray()
    while n - len(out) > 100:
        out += unit * 8 + b"\r\n"
    rest = n - len(out)
    out += unit * (rest // len(unit)) + b" " * (rest % len(unit))
    return bytes(out)


def fit(template: bytes, size: int) -> bytes:
    deficit = size - (len(template) - len(PAD))
    if deficit < 0:
        raise ValueError(f"message is {-deficit} octets over {size} before padding")
    data = template.replace(PAD, filler(deficit))
    assert len(data) == size, (len(data), size)
    return data


# --------------------------------------------------------------------------- Japanese rejection

JA_TEXT = """\
佐藤 健太 様

株式会社アクメ 人事部 採用担当の山田でございます。

このたびは、数ある企業の中から弊社の「バックエンドエンジニア（決済基盤）」の求人に
ご応募いただき、誠にありがとうございました。
また、先日はご多用の中、二次面接のためにお時間を割いていただきましたこと、
面接官一同あらためて御礼申し上げます。

佐藤様のご経歴ならびに面接でお伺いした内容をもとに、社内で慎重に選考を重ねてまいりましたが、
誠に残念ながら、今回は採用を見送らせていただくこととなりました。

ご期待に沿えない結果となり大変恐縮ではございますが、何卒ご了承くださいますよう
お願い申し上げます。
なお、選考の経緯および結果の理由につきましては、お答えいたしかねますことを
あわせてご理解いただけますと幸いです。

ご提出いただきました履歴書・職務経歴書などの応募書類につきましては、
弊社の個人情報保護方針に基づき、責任を持って破棄させていただきます。

末筆ではございますが、佐藤様の今後ますますのご活躍を心よりお祈り申し上げます。

--------------------------------------------------------------------
株式会社アクメ 人事部 採用担当 山田 花子
〒100-0005 東京都千代田区丸の内一丁目九番九号 アクメビル十二階
TEL: 03-0000-0000（平日 十時～十八時）
採用サイト: https://recruit.acme.co.jp/
--------------------------------------------------------------------

【個人情報の取り扱いについて】
株式会社アクメ（以下「当社」といいます）は、採用選考にあたりご提供いただいた個人情報を、
以下のとおり取り扱います。

一、利用目的
　ご提供いただいた個人情報は、採用選考、選考結果のご連絡、および入社手続きのためにのみ
　利用いたします。その他の目的で利用することはございません。

二、第三者提供
　法令に基づく場合を除き、ご本人の同意なく第三者に個人情報を提供することはございません。

三、委託
　当社は、採用管理システムの運用等の業務の全部または一部を外部に委託する場合があります。
　その場合は、個人情報を適切に取り扱う委託先を選定し、必要かつ適切な監督を行います。

四、保管期間および廃棄
　選考結果のご連絡後、応募書類は当社の定める期間保管した後、速やかに廃棄いたします。
　不採用となった方の応募書類は、返却いたしかねますのでご了承ください。

五、開示等の請求
　ご本人からの個人情報の開示、訂正、利用停止等のご請求には、法令に従い対応いたします。
　お問い合わせは下記窓口までご連絡ください。

個人情報お問い合わせ窓口: 株式会社アクメ 個人情報保護管理者（人事部長）
メール: privacy@acme.co.jp　電話: 03-0000-0001

このメールは送信専用アドレスから配信されております。
ご返信いただいてもお答えできませんので、あらかじめご了承ください。
このメールにお心当たりのない場合は、お手数ですが破棄していただきますようお願いいたします。
"""

OUTLOOK_HEAD = """\
<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv=Content-Type content="text/html; charset=iso-2022-jp">
<meta name=Generator content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"ＭＳ ゴシック";
\tpanose-1:2 11 6 9 7 2 5 8 2 4;}
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:游ゴシック;
\tpanose-1:2 11 4 0 0 0 0 0 0 0;}
@font-face
\t{font-family:"\\@游ゴシック";
\tpanose-1:2 11 4 0 0 0 0 0 0 0;}
@font-face
\t{font-family:"\\@ＭＳ ゴシック";
\tpanose-1:2 11 6 9 7 2 5 8 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0mm;
\ttext-align:justify;
\ttext-justify:inter-ideograph;
\tfont-size:10.5pt;
\tfont-family:游ゴシック;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}
p.MsoPlainText, li.MsoPlainText, div.MsoPlainText
\t{mso-style-priority:99;
\tmso-style-link:"書式なし \\(文字\\)";
\tmargin:0mm;
\tfont-size:10.5pt;
\tfont-family:游ゴシック;}
span.a
\t{mso-style-name:"書式なし \\(文字\\)";
\tmso-style-priority:99;
\tmso-style-link:書式なし;
\tfont-family:游ゴシック;}
span.EmailStyle20
\t{mso-style-type:personal-compose;
\tfont-family:游ゴシック;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-size:10.0pt;}
/* Page Definitions */
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:99.25pt 30.0mm 30.0mm 30.0mm;}
div.WordSection1
\t{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang=JA link="#0563C1" vlink="#954F72" style='word-wrap:break-word;text-justify-trim:punctuation'>
<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">
@@PAD@@
</div>
<div class=WordSection1>
"""

_SPAN = '<span style=\'font-family:"ＭＳ ゴシック";mso-fareast-font-family:"ＭＳ ゴシック"\'>'


def outlook_html(text: str) -> str:
    """The HTML alternative Outlook writes for a plain message: one Word paragraph per line."""
    out = [OUTLOOK_HEAD]
    for line in text.strip("\n").split("\n"):
        if not line.strip():
            out.append("<p class=MsoPlainText><span lang=EN-US><o:p>&nbsp;</o:p></span></p>\n")
            continue
        words = []
        for word in line.split(" "):
            if word.startswith("https://"):
                word = f'<a href="{word}"><span lang=EN-US>{word}</span></a>'
            words.append(word)
        out.append(
            f"<p class=MsoPlainText>{_SPAN}{' '.join(words)}<span lang=EN-US><o:p></o:p></span></span></p>\n"
        )
    out.append("</div>\n</body>\n</html>\n")
    return "".join(out)


def ja_rejection() -> bytes:
    subject = b64_word("【株式会社アクメ】選考結果のご連絡", "ISO-2022-JP")
    sender = b64_word("株式会社アクメ 採用担当", "ISO-2022-JP")
    to = b64_word("佐藤 健太", "ISO-2022-JP")
    head = crlf(f"""\
Received: from hr-pc12.acme.co.jp (hr-pc12.acme.co.jp [10.20.4.12])
\tby mail.acme.co.jp (Postfix) with ESMTPSA id 4Tq9wz1LkPz9sWB
\tfor <{RECIPIENT}>; Tue, 17 Mar 2026 14:02:11 +0900 (JST)
Date: Tue, 17 Mar 2026 14:02:09 +0900
From: {sender} <{SENDER_RECRUIT}>
To: {to} <{RECIPIENT}>
Subject: {subject}
Message-ID: <20260317140209.4f2a9c1e@hr-pc12.acme.co.jp>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Content-Type: multipart/alternative; boundary="----=_NextPart_000_0012_01DA77C1.5B3E2F40"
""")
    boundary = "----=_NextPart_000_0012_01DA77C1.5B3E2F40"
    part_head = 'Content-Type: text/{};\r\n\tcharset="iso-2022-jp"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
    data = (
        head.encode("ascii")
        + b"\r\nThis is a multi-part message in MIME format.\r\n\r\n"
        + f"--{boundary}\r\n".encode()
        + part_head.format("plain").encode()
        + jis(crlf(JA_TEXT))
        + f"\r\n--{boundary}\r\n".encode()
        + part_head.format("html").encode()
        + jis(crlf(outlook_html(JA_TEXT)))
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return fit(data, KB20)


# --------------------------------------------------------------------------- English rejection

EN_TEXT = """\
Hi Jordan,

Thank you for your interest in the Senior Product Designer role at ACME and for the time you
invested in our process, including the portfolio review and the conversations with our design
and product teams last week.

We were fortunate to hear from many strong candidates. After careful consideration, we have
decided not to move forward with your application at this time. This was a difficult decision,
and it does not reflect on the quality of your work, which the panel enjoyed discussing.

We will keep your details on file and may reach out if a role that matches your experience opens
up in the future. In the meantime, you are welcome to follow our careers page for new openings.

Thank you again for considering ACME. We wish you every success in your job search and in your
future endeavours.

Best regards,

Morgan Lee
Talent Acquisition Partner, ACME Co., Ltd.
1-9-9 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan
careers: https://careers.acme.co.jp/

--
How we handle your data: we process the personal data you shared with us during the
application (your CV, portfolio links, interview notes) to evaluate your application and to
communicate with you about it. We keep this data for up to 12 months after the end of the
process unless you ask us to delete it sooner, and we never sell it. Our recruiting software
provider processes it on our behalf under a data processing agreement. You may ask for access,
correction or deletion at any time by writing to privacy@acme.co.jp. For details, see our
candidate privacy notice at https://careers.acme.co.jp/privacy.

This message was sent from an address that cannot accept replies. Please contact
careers@acme.co.jp if you have any questions.
"""

EN_HTML = """\
<!doctype html>
<html lang="en" xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>Your application to ACME</title>
<!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->
<style>
  body, table, td, a { -webkit-text-size-adjust: 100%; -ms-text-size-adjust: 100%; }
  table, td { mso-table-lspace: 0pt; mso-table-rspace: 0pt; }
  img { -ms-interpolation-mode: bicubic; border: 0; height: auto; line-height: 100%; outline: none; text-decoration: none; }
  body { margin: 0 !important; padding: 0 !important; width: 100% !important; background-color: #f6f7f9; }
  .wrapper { width: 100%; table-layout: fixed; background-color: #f6f7f9; padding-bottom: 40px; }
  .main { background-color: #ffffff; margin: 0 auto; width: 100%; max-width: 600px; border-spacing: 0; color: #1d2330; font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
  .body-copy { font-size: 15px; line-height: 24px; color: #1d2330; }
  .muted { font-size: 12px; line-height: 18px; color: #6b7280; }
  .btn a { background-color: #0b5fff; border-radius: 6px; color: #ffffff; display: inline-block; font-weight: 600; padding: 12px 20px; text-decoration: none; }
  @media screen and (max-width: 600px) { .main { width: 100% !important; } .pad { padding: 20px !important; } }
</style>
</head>
<body style="margin:0;padding:0;background-color:#f6f7f9;">
<div style="display:none;font-size:1px;color:#f6f7f9;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;mso-hide:all;">
An update on your application for Senior Product Designer
@@PAD@@
</div>
<center class="wrapper">
<table class="main" role="presentation" width="600" cellpadding="0" cellspacing="0" border="0">
<tr>
<td style="padding:28px 40px 12px 40px;" class="pad">
<img src="https://careers.acme.co.jp/assets/email/acme-logo.png" width="120" height="32" alt="ACME" style="display:block;">
</td>
</tr>
<tr>
<td class="pad body-copy" style="padding:12px 40px 8px 40px;font-size:15px;line-height:24px;color:#1d2330;">
<p style="margin:0 0 16px 0;">Hi Jordan,</p>
<p style="margin:0 0 16px 0;">Thank you for your interest in the Senior Product Designer role at ACME and for the time you invested in our process, including the portfolio review and the conversations with our design and product teams last week.</p>
<p style="margin:0 0 16px 0;">We were fortunate to hear from many strong candidates. After careful consideration, we have decided not to move forward with your application at this time. This was a difficult decision, and it does not reflect on the quality of your work, which the panel enjoyed discussing.</p>
<p style="margin:0 0 16px 0;">We will keep your details on file and may reach out if a role that matches your experience opens up in the future. In the meantime, you are welcome to follow our careers page for new openings.</p>
<p style="margin:0 0 16px 0;">Thank you again for considering ACME. We wish you every success in your job search and in your future endeavours.</p>
<p style="margin:0 0 4px 0;">Best regards,</p>
<p style="margin:0 0 24px 0;"><strong>Morgan Lee</strong><br>Talent Acquisition Partner, ACME Co., Ltd.<br>1-9-9 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan</p>
</td>
</tr>
<tr>
<td class="pad btn" style="padding:0 40px 28px 40px;">
<a href="https://careers.acme.co.jp/?utm_source=ats&amp;utm_medium=email&amp;utm_campaign=candidate_update" style="background-color:#0b5fff;border-radius:6px;color:#ffffff;display:inline-block;font-weight:600;padding:12px 20px;text-decoration:none;">See open roles at ACME</a>
</td>
</tr>
<tr>
<td class="pad muted" style="padding:20px 40px 28px 40px;border-top:1px solid #e5e7eb;font-size:12px;line-height:18px;color:#6b7280;">
<p style="margin:0 0 10px 0;"><strong>How we handle your data:</strong> we process the personal data you shared with us during the application (your CV, portfolio links, interview notes) to evaluate your application and to communicate with you about it. We keep this data for up to 12 months after the end of the process unless you ask us to delete it sooner, and we never sell it.</p>
<p style="margin:0 0 10px 0;">Our recruiting software provider processes it on our behalf under a data processing agreement. You may ask for access, correction or deletion at any time by writing to <a href="mailto:privacy@acme.co.jp" style="color:#6b7280;">privacy@acme.co.jp</a>. For details, see our <a href="https://careers.acme.co.jp/privacy" style="color:#6b7280;">candidate privacy notice</a>.</p>
<p style="margin:0;">This message was sent from an address that cannot accept replies. Please contact <a href="mailto:careers@acme.co.jp" style="color:#6b7280;">careers@acme.co.jp</a> if you have any questions.</p>
</td>
</tr>
</table>
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="margin:0 auto;">
<tr>
<td style="padding:16px 40px;font-size:11px;line-height:16px;color:#9ca3af;text-align:center;font-family:Arial,sans-serif;">
ACME Co., Ltd. &middot; 1-9-9 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan<br>
You are receiving this email because you applied for a position at ACME.
</td>
</tr>
</table>
</center>
<img src="https://ats.example-recruiting.com/o/3f9c1d7a2b/open.gif" width="1" height="1" alt="" style="display:block;border:0;">
</body>
</html>
"""


ROLES_AT = '<tr>\n<td class="pad muted"'
SOCIAL_FOOTER = """\
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="margin:0 auto;">
<tr>
<td align="center" style="padding:8px 40px 0 40px;">
<a href="https://www.linkedin.com/company/acme-co-ltd/" style="display:inline-block;padding:0 6px;"><img src="https://careers.acme.co.jp/assets/email/icon-linkedin.png" width="24" height="24" alt="LinkedIn" style="display:block;border:0;"></a>
<a href="https://x.com/acme_careers" style="display:inline-block;padding:0 6px;"><img src="https://careers.acme.co.jp/assets/email/icon-x.png" width="24" height="24" alt="X" style="display:block;border:0;"></a>
<a href="https://www.instagram.com/acme.life/" style="display:inline-block;padding:0 6px;"><img src="https://careers.acme.co.jp/assets/email/icon-instagram.png" width="24" height="24" alt="Instagram" style="display:block;border:0;"></a>
<a href="https://www.youtube.com/@acme-careers" style="display:inline-block;padding:0 6px;"><img src="https://careers.acme.co.jp/assets/email/icon-youtube.png" width="24" height="24" alt="YouTube" style="display:block;border:0;"></a>
</td>
</tr>
</table>
"""


ROLES = (
    ("UX Researcher", "Tokyo, Japan (Hybrid)", "ux-researcher-tokyo"),
    ("Product Designer, Payments", "Osaka, Japan", "product-designer-payments"),
    ("Design Systems Engineer", "Remote (Japan)", "design-systems-engineer"),
    ("Content Designer", "Tokyo, Japan (Hybrid)", "content-designer-tokyo"),
)


def roles_section() -> str:
    """The "explore other openings" cards ATS templates append to candidate updates."""
    cards = []
    for title, place, slug in ROLES:
        cards.append(
            '<tr>\n<td style="padding:12px 16px;border:1px solid #e5e7eb;border-radius:8px;'
            "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\">\n"
            f'<p style="margin:0 0 2px 0;font-size:15px;line-height:22px;font-weight:600;color:#1d2330;">{title}</p>\n'
            f'<p style="margin:0 0 8px 0;font-size:13px;line-height:18px;color:#6b7280;">{place} &middot; Design</p>\n'
            f'<a href="https://careers.acme.co.jp/jobs/{slug}" style="font-size:13px;font-weight:600;'
            'color:#0b5fff;text-decoration:none;">View role &rarr;</a>\n</td>\n</tr>\n'
            '<tr><td style="height:10px;line-height:10px;font-size:0;">&nbsp;</td></tr>\n'
        )
    return (
        '<tr>\n<td class="pad" style="padding:0 40px 24px 40px;">\n'
        '<p style="margin:0 0 12px 0;font-size:13px;line-height:20px;color:#6b7280;">'
        "Open roles at ACME</p>\n"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n'
        + "".join(cards)
        + "</table>\n</td>\n</tr>\n"
    )


def tracked(html: str) -> str:
    """Wrap every link in a click-tracking redirect, as the ATS's mail provider does."""
    rng = random.Random(17)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    def wrap(match: re.Match[str]) -> str:
        if match.group(1).startswith("mailto:"):
            return match.group(0)
        token = "".join(rng.choice(alphabet) for _ in range(260))
        return f'href="https://click.example-recruiting.com/ls/click?upn={token}"'

    return re.sub(r'href="([^"]+)"', wrap, html)


def qp(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def en_rejection() -> bytes:
    boundary = "b1_9f8c6e2a4d1b7e0c3a5f9d2e8b6c4a10"
    head = crlf(f"""\
Received: from ats-mailer-7c9d.example-recruiting.com (ats-mailer-7c9d.example-recruiting.com [192.0.2.44])
\tby mail.acme.co.jp (Postfix) with ESMTPS id 4Tq9x31FqLz9sWC
\tfor <{RECIPIENT}>; Tue, 17 Mar 2026 05:14:02 +0000 (UTC)
Date: Tue, 17 Mar 2026 05:14:01 +0000
From: ACME Talent Team <{SENDER_RECRUIT}>
Reply-To: ACME Careers <careers@acme.co.jp>
To: Jordan Avery <{RECIPIENT}>
Subject: Your application for Senior Product Designer at ACME
Message-ID: <0100018e4b2c9d7f-8a1c4e2b-5d3f-4e9a-b7c1-2f6d8e0a9b3c-000000@ats.example-recruiting.com>
MIME-Version: 1.0
X-ATS-Template: rejection-after-interview-v3
X-ATS-Application-ID: 7f3c9a1e-44b2-4d0e-9c1a-5e8f2b6d0a47
Content-Type: multipart/alternative; boundary="{boundary}"
""")
    html = (
        tracked(
            EN_HTML.replace("</center>", SOCIAL_FOOTER + "</center>").replace(
                ROLES_AT, roles_section() + ROLES_AT
            )
        )
        .replace("\n", "\r\n")
        .encode("utf-8")
    )
    data = (
        head.encode("ascii")
        + b"\r\n"
        + f"--{boundary}\r\n".encode()
        + b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + crlf(EN_TEXT).encode("ascii")
        + f"\r\n--{boundary}\r\n".encode()
        + b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    # Quoted-printable cannot carry the padding marker through unchanged: pad the HTML first.
    tail = f"\r\n--{boundary}--\r\n".encode()
    fixed = len(data) + len(qp(html.replace(PAD, b""))) + len(tail)
    deficit = KB20 - fixed
    for extra in range(deficit, 0, -1):  # filler is plain ASCII; QP only adds soft breaks
        body = qp(html.replace(PAD, filler(extra)))
        if len(data) + len(body) + len(tail) <= KB20:
            break
    message = data + body + tail
    # The last few octets: widen the preheader's trailing spaces in the text part's signature line.
    short = KB20 - len(message)
    message = message.replace(b"\r\n--\r\nHow we", b" " * short + b"\r\n--\r\nHow we", 1)
    assert len(message) == KB20, len(message)
    return message


# --------------------------------------------------------------------------- business mail

BIZ_TEXT = """\
株式会社ベータ商事
購買部 田中 様

いつも大変お世話になっております。
株式会社アクメ 営業部の鈴木でございます。

先日はお打ち合わせのお時間をいただき、誠にありがとうございました。
ご依頼いただきました「物流管理システム更新」のお見積りと、打ち合わせの議事録を
お送りいたします。ご査収のほど、よろしくお願いいたします。

■ お見積り概要（税抜）
　一、要件定義・基本設計　　　　　　　　　　　　　　　　　　　　三百二十万円
　二、詳細設計・開発（在庫引当、出荷指示、帳票）　　　　　　　千二百八十万円
　三、既存データ移行（商品マスタ約四万件、取引先マスタ約二千件）　百六十万円
　四、結合試験・受入支援　　　　　　　　　　　　　　　　　　　　二百四十万円
　五、稼働後保守（初年度、月額）　　　　　　　　　　　　　　　　　　十八万円

　有効期限：お見積り日より九十日間
　お支払条件：検収月末締め翌月末払い

■ 打ち合わせ議事録（三月十二日 十四時～十六時、貴社会議室）
出席者：貴社 田中様、木村様、小林様／弊社 鈴木、高橋、伊藤

一、現行システムの課題
　・月末の出荷ピーク時に在庫引当の処理が遅延し、出荷指示の確定が翌朝にずれ込む。
　・倉庫ごとに帳票の様式が異なり、手作業での転記が発生している。
　・取引先マスタの重複登録が多く、請求書の宛先誤りが年に数件発生している。

二、新システムへのご要望
　・在庫引当をリアルタイム化し、出荷指示を当日十七時までに確定したい。
　・帳票を統一し、倉庫ごとの差分は設定で吸収したい。
　・取引先マスタの名寄せを移行時に実施したい。

三、スケジュール案
　・四月：要件定義（週一回の定例会、計四回）
　・五月～六月：基本設計・詳細設計
　・七月～九月：開発・単体試験
　・十月：結合試験、十一月：受入試験、十二月：本番稼働

四、宿題事項
　・貴社：倉庫別の帳票サンプルのご提供（三月二十二日まで）
　・弊社：データ移行方式の比較資料の作成（三月二十五日まで）
　・弊社：保守体制（一次受付、障害対応時間帯）のご提案

次回の定例会は三月二十六日（木）十時からを予定しております。
ご都合が悪い場合はお知らせいただけますと幸いです。

引き続きどうぞよろしくお願いいたします。

--------------------------------------------------------------------
株式会社アクメ 営業部 第二営業課 鈴木 一郎
〒100-0005 東京都千代田区丸の内一丁目九番九号 アクメビル十二階
TEL: 03-0000-0100　携帯: 090-0000-0000
Mail: sales@acme.co.jp　URL: https://www.acme.co.jp/
--------------------------------------------------------------------
本メールおよび添付ファイルには、機密情報が含まれている場合があります。
誤って受信された場合は、お手数ですが送信者までご連絡のうえ、削除をお願いいたします。
"""

BIZ_HTML_HEAD = """\
<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>お見積りと議事録の送付</title>
<style>body{font-family:"Meiryo","Hiragino Sans",sans-serif;font-size:14px;line-height:1.7;color:#222}
table.q{border-collapse:collapse;margin:8px 0}table.q td,table.q th{border:1px solid #bbb;padding:4px 10px}
table.q th{background:#eef2f7;text-align:left}.r{text-align:right}.sig{color:#555;font-size:13px}</style>
</head><body>
<div style="display:none;max-height:0;overflow:hidden;">物流管理システム更新のお見積りと議事録
@@PAD@@
</div>
"""


def biz_html() -> str:
    paragraphs = []
    for block in BIZ_TEXT.split("\n\n"):
        lines = block.split("\n")
        paragraphs.append("<p>" + "<br>\n".join(lines) + "</p>")
    body = "\n".join(paragraphs)
    table = (
        '<table class="q"><tr><th>項目</th><th class="r">金額（税抜）</th></tr>\n'
        '<tr><td>要件定義・基本設計</td><td class="r">3,200,000円</td></tr>\n'
        '<tr><td>詳細設計・開発</td><td class="r">12,800,000円</td></tr>\n'
        '<tr><td>既存データ移行</td><td class="r">1,600,000円</td></tr>\n'
        '<tr><td>結合試験・受入支援</td><td class="r">2,400,000円</td></tr>\n'
        '<tr><td>稼働後保守（月額）</td><td class="r">180,000円</td></tr></table>'
    )
    return (
        BIZ_HTML_HEAD
        + body.replace("<p>■ お見積り概要", table + "\n<p>■ お見積り概要")
        + "\n</body></html>\n"
    )


def b64_lines(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"".join(text[i : i + 76] + b"\r\n" for i in range(0, len(text), 76))


def business() -> bytes:
    boundary = "----=_Part_8841_1403827126.1773724931000"
    subject = b64_word("物流管理システム更新のお見積りと議事録の送付", "ISO-2022-JP")
    head = crlf(f"""\
Received: from sales-pc03.acme.co.jp (sales-pc03.acme.co.jp [10.20.6.3])
\tby mail.acme.co.jp (Postfix) with ESMTPSA id 4Tq9y02HkRz9sWD
\tfor <tanaka@beta-shoji.example>; Tue, 17 Mar 2026 15:22:13 +0900 (JST)
Date: Tue, 17 Mar 2026 15:22:11 +0900
From: {b64_word("鈴木 一郎", "ISO-2022-JP")} <{SENDER_SALES}>
To: {b64_word("田中 様", "ISO-2022-JP")} <{RECIPIENT}>
Cc: {b64_word("高橋", "ISO-2022-JP")} <takahashi@acme.co.jp>
Subject: {subject}
Message-ID: <a1c9e3f5-7b2d-4e6f-8a0c-1d3e5f7a9b2c@acme.co.jp>
MIME-Version: 1.0
X-Mailer: Thunderbird 115.8.1
Content-Type: multipart/alternative; boundary="{boundary}"
""")
    top = (
        head.encode("ascii")
        + b"\r\n"
        + f"--{boundary}\r\n".encode()
        + b'Content-Type: text/plain; charset="ISO-2022-JP"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
        + jis(crlf(BIZ_TEXT))
        + f"\r\n--{boundary}\r\n".encode()
        + b"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    html = biz_html().replace("\n", "\r\n").encode("utf-8")
    # base64 grows in steps of 4 octets (+2 per 76): find the largest filler that fits, then finish
    # the last few octets with spaces on the boundary's preamble line.
    best = b""
    for extra in range(0, KB20):
        body = b64_lines(html.replace(PAD, filler(extra)))
        if len(top) + len(body) + len(tail) > KB20:
            break
        best = body
    message = top + best.rstrip(b"\r\n") + tail
    short = KB20 - len(message)
    message = message.replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0" + b" " * short + b"\r\n", 1)
    assert len(message) == KB20, len(message)
    return message


# --------------------------------------------------------------------------- 2 MB with a PDF


def pdf_document(image_bytes: int, seed: int = 2026) -> bytes:
    """A valid PDF: four pages of text, each with one high-entropy (photo-like) image stream."""
    rng = random.Random(seed)
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    pages_id = 2
    catalog = add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"")  # the page tree, filled in below
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    per_image = image_bytes // 4
    for n in range(4):
        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00" + rng.randbytes(
            max(0, per_image - 22)
        )
        jpeg += b"\xff\xd9"
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width 1600 /Height 1200 /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
            % len(jpeg)
            + jpeg
            + b"\nendstream"
        )
        text = [b"BT /F1 18 Tf 56 780 Td (Logistics System Renewal - Proposal, page %d) Tj ET" % (n + 1)]
        for line in range(40):
            y = 740 - line * 14
            words = " ".join(
                rng.choice(
                    (
                        "inventory",
                        "allocation",
                        "shipping",
                        "warehouse",
                        "report",
                        "schedule",
                        "migration",
                        "master",
                        "acceptance",
                        "test",
                    )
                )
                for _ in range(9)
            )
            text.append(b"BT /F1 10 Tf 56 %d Td (%s) Tj ET" % (y, words.encode()))
        text.append(b"q 480 0 0 360 56 40 cm /Im%d Do Q" % n)
        stream = zlib.compress(b"\n".join(text), 9)
        content = add(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
        page_ids.append(
            add(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> /XObject << /Im%d %d 0 R >> >> >>"
                % (content, font, n, image)
            )
        )
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)


PDF_TEXT = """\
田中 様

いつもお世話になっております。株式会社アクメの鈴木です。

先日お話しいたしました物流管理システム更新のご提案書（PDF）をお送りいたします。
構成図と画面イメージを含めておりますため、容量が大きくなっております。
ご確認のほど、よろしくお願いいたします。

--
株式会社アクメ 営業部 第二営業課 鈴木 一郎
TEL: 03-0000-0100　Mail: sales@acme.co.jp
"""


def pdf_2mb() -> bytes:
    boundary = "------------A3B9C1D7E5F20864"
    head = crlf(f"""\
Received: from sales-pc03.acme.co.jp (sales-pc03.acme.co.jp [10.20.6.3])
\tby mail.acme.co.jp (Postfix) with ESMTPSA id 4Tq9z44JmTz9sWE
\tfor <tanaka@beta-shoji.example>; Tue, 17 Mar 2026 16:40:52 +0900 (JST)
Date: Tue, 17 Mar 2026 16:40:50 +0900
From: {b64_word("鈴木 一郎", "ISO-2022-JP")} <{SENDER_SALES}>
To: {b64_word("田中 様", "ISO-2022-JP")} <{RECIPIENT}>
Subject: {b64_word("ご提案書の送付（物流管理システム更新）", "ISO-2022-JP")}
Message-ID: <7e1f3a5c-9b2d-4c6e-8f0a-2b4d6f8a0c1e@acme.co.jp>
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Type: multipart/mixed; boundary="{boundary}"
""")
    filename = "proposal_logistics_2026.pdf"
    top = (
        head.encode("ascii")
        + b"\r\nThis is a multi-part message in MIME format.\r\n"
        + f"--{boundary}\r\n".encode()
        + b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + jis(crlf(PDF_TEXT))
        + f"\r\n--{boundary}\r\n".encode()
        + f'Content-Type: application/pdf; name="{filename}"\r\n'.encode()
        + f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    room = MB2 - len(top) - len(tail)
    # base64 with 76-column CRLF lines: 4 characters per 3 octets, 2 more per line.
    low, high = 0, room
    while low < high:  # the largest image size whose encoded PDF still fits
        mid = (low + high + 1) // 2
        if len(b64_lines(pdf_document(mid)).rstrip(b"\r\n")) <= room:
            low = mid
        else:
            high = mid - 1
    body = b64_lines(pdf_document(low)).rstrip(b"\r\n")
    message = top + body + tail
    short = MB2 - len(message)
    message = message.replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0" + b" " * short + b"\r\n", 1)
    assert len(message) == MB2, len(message)
    return message


BUILDERS = {
    "ja-rejection": ja_rejection,
    "en-rejection": en_rejection,
    "business": business,
    "pdf-2mb": pdf_2mb,
}


def path_of(name: str) -> Path:
    return OUT / MESSAGES[name][0]


def ensure(names: list[str] | None = None, *, force: bool = False) -> dict[str, Path]:
    """Write the message files that are missing (or all, with force); return their paths."""
    OUT.mkdir(exist_ok=True)
    paths = {}
    for name in names or list(MESSAGES):
        path = path_of(name)
        if force or not path.exists():
            path.write_bytes(BUILDERS[name]())
        paths[name] = path
    return paths


if __name__ == "__main__":
    for name, path in ensure(force=True).items():
        print(f"{name:14} {path.relative_to(HERE.parent)} {path.stat().st_size:>9,} octets")

"""The shop's views: what an application writes."""

from email.mime.image import MIMEImage

from django.core.mail import EmailMultiAlternatives, send_mail
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST
from nexus_connector_django import amanager

from nexus_connector_core import EmailMessage

#: A 1x1 PNG, the shop's logo in the order mail.
LOGO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
#: The invoice attached to the order mail (binary on purpose: every byte must arrive).
INVOICE = b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF\n"


@require_POST
def signup(request: HttpRequest) -> JsonResponse:
    sent = send_mail("Welcome", "Thanks for signing up.", None, [request.POST["email"]])
    return JsonResponse({"sent": sent})


@require_POST
async def async_signup(request: HttpRequest) -> JsonResponse:
    receipt = await amanager().email.send(
        EmailMessage(
            sender="shop@example.com",
            to=[request.POST["email"]],
            subject="Welcome",
            text="Thanks for signing up.",
        )
    )
    return JsonResponse({"id": receipt.vendor_id})


@require_POST
def confirm_order(request: HttpRequest, number: int) -> JsonResponse:
    mail = EmailMultiAlternatives(
        subject=f"Order {number} confirmed",
        body=f"Order {number} ships today.",
        to=["Ada Lovelace <ada@example.com>"],
        cc=["orders@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        headers={"X-Order-Id": str(number)},
    )
    mail.attach_alternative(
        f'<p>Order <b>{number}</b> ships today.</p><img src="cid:logo">', "text/html"
    )
    mail.attach(f"invoice-{number}.pdf", INVOICE, "application/pdf")
    logo = MIMEImage(LOGO, "png")
    logo.add_header("Content-ID", "<logo>")
    mail.attach(logo)
    mail.send()
    receipt = mail.nexus_receipt  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "id": receipt.vendor_id,
            "recipients": {a: s.status for a, s in receipt.recipients.items()},
        }
    )

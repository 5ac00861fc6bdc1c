"""The shop's own tests, as Django's test runner runs them (``manage.py test demo_shop``)."""

from django.test import TestCase
from nexus_connector_django.testing import override_connectors


@override_connectors()
class SignupMailTests(TestCase):
    def test_the_welcome_mail_goes_out_through_the_email_connector(self) -> None:
        response = self.client.post("/signup/", {"email": "ada@example.com"})

        assert response.json() == {"sent": 1}
        [mail] = self.nexus.outbox()
        assert mail.subject == "Welcome"
        assert [str(a) for a in mail.to] == ["ada@example.com"]

    def test_each_test_starts_with_an_empty_outbox(self) -> None:
        assert self.nexus.outbox() == []

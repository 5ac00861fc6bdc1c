"""The SMTP dialogue and reply rules without sockets: a script plays the server.

Both adapters drive this same logic, so what is decided here holds for sync and async.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from nexus_connector_smtp._answers import (
    MAX_REPLY,
    ConnectionLostError,
    MalformedReplyError,
    Reply,
    read_reply_line,
    session_error,
)
from nexus_connector_smtp._dialogue import (
    Command,
    Connect,
    Content,
    Data,
    Dialogue,
    Ehlo,
    Helo,
    Login,
    Mail,
    Quit,
    Rcpt,
    Rset,
    StartTls,
)
from nexus_connector_smtp._requests import OutgoingMessage

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    EmailReceipt,
    Secret,
    VendorError,
    VendorUnavailableError,
)

OK = Reply(250, "OK")
GO_AHEAD = Reply(354, "End data with <CR><LF>.<CR><LF>")
HELLO = Reply(250, "smtp.test", frozenset({"starttls", "auth", "pipelining"}))
LOGIN = Login("mailer", Secret("correct-horse-battery"))
#: Greeting, EHLO, STARTTLS, EHLO again, AUTH: the replies before the first message.
OPENING = [Reply(220, "hi"), HELLO, Reply(220, "go"), HELLO, Reply(235, "ok")]


def outgoing(*recipients: str, message_id: str = "<1@example.com>") -> OutgoingMessage:
    return OutgoingMessage(message_id, "shop@example.com", recipients, b"Subject: hi\r\n\r\nhi")


def play(
    dialogue: Dialogue, replies: Iterable[Reply | ConnectionLostError]
) -> tuple[list[Command], list[EmailReceipt] | ConnectorError]:
    """Run `dialogue` against scripted replies; the commands it sent and its outcome."""
    sent: list[Command] = []
    flow = dialogue.run()
    script = iter(replies)
    try:
        command = next(flow)
        while True:
            sent.append(command)
            reply = OK if isinstance(command, Quit) else next(script)
            is_loss = isinstance(reply, ConnectionLostError)
            command = flow.throw(reply) if is_loss else flow.send(reply)  # type: ignore[arg-type]
    except StopIteration as stop:
        return sent, stop.value
    except ConnectorError as error:
        return sent, error


def dialogue(
    *messages: OutgoingMessage, tls: str = "starttls", login: bool = True, batch: bool = False
) -> Dialogue:
    return Dialogue(
        messages,
        vendor="smtp",
        tls=tls,  # type: ignore[arg-type]
        login=LOGIN if login else None,
        max_batch=100,
        batch=batch,
    )


def test_a_send_greets_upgrades_logs_in_and_sends_in_order() -> None:
    sent, receipts = play(
        dialogue(outgoing("ada@example.com")),
        [*OPENING, OK, OK, GO_AHEAD, OK],
    )

    steps = [Connect, Ehlo, StartTls, Ehlo, Login, Mail, Rcpt, Data, Content, Quit]
    assert [type(c) for c in sent] == steps
    assert isinstance(receipts, list)
    assert receipts[0].recipients["ada@example.com"].status == "queued"


def test_a_server_without_ehlo_is_greeted_with_helo() -> None:
    sent, receipts = play(
        dialogue(outgoing("ada@example.com"), tls="none", login=False),
        [Reply(220, "hi"), Reply(502, "unknown"), OK, OK, OK, GO_AHEAD, OK],
    )

    assert [type(c) for c in sent][:4] == [Connect, Ehlo, Helo, Mail]
    assert isinstance(receipts, list)


def test_credentials_for_a_server_offering_no_auth_are_an_auth_error() -> None:
    sent, error = play(
        dialogue(outgoing("ada@example.com"), tls="none"),
        [Reply(220, "hi"), Reply(250, "smtp.test", frozenset({"size"}))],
    )

    assert isinstance(error, AuthenticationError)
    assert "offers no AUTH" in str(error)
    assert not [c for c in sent if isinstance(c, Login)]


def test_the_password_never_shows_in_the_login_command() -> None:
    assert "correct-horse-battery" not in repr(LOGIN)


def test_a_530_to_mail_from_in_a_batch_ends_the_batch_as_an_auth_error() -> None:
    sent, outcome = play(
        dialogue(outgoing("a@example.com"), outgoing("b@example.com"), batch=True),
        [*OPENING, Reply(530, "5.7.0 Authentication required")],
    )

    assert isinstance(outcome, AuthenticationError)
    assert isinstance(sent[-1], Quit)


def test_a_refused_message_in_a_batch_is_reset_and_the_next_one_goes() -> None:
    sent, receipts = play(
        dialogue(
            outgoing("a@example.com"), outgoing("b@example.com", message_id="<2@x>"), batch=True
        ),
        # Message 1 refused after its content, then RSET; message 2 goes.
        [*OPENING, OK, OK, GO_AHEAD, Reply(554, "5.6.0 spam"), OK, OK, OK, GO_AHEAD, OK],
    )

    assert isinstance(receipts, list)
    assert Rset() in sent
    assert receipts[0].rejected["a@example.com"].reason == "554 5.6.0 spam"
    assert receipts[1].recipients["b@example.com"].status == "queued"


@pytest.mark.parametrize(
    ("lost_at", "maybe_processed"),
    [(Mail, False), (Rcpt, False), (Data, False), (Content, True)],
)
def test_only_a_connection_lost_after_the_content_went_out_may_have_delivered(
    lost_at: type, maybe_processed: bool
) -> None:
    replies: list[Reply | ConnectionLostError] = [*OPENING, OK, OK, GO_AHEAD]
    del replies[len(OPENING) + [Mail, Rcpt, Data, Content].index(lost_at) :]
    replies.append(ConnectionLostError("reset"))

    _, error = play(dialogue(outgoing("ada@example.com")), replies)

    assert isinstance(error, VendorUnavailableError)
    assert error.maybe_processed is maybe_processed


def test_content_that_did_not_go_out_whole_cannot_have_delivered() -> None:
    lost = ConnectionLostError("the attempt's timeout ran out", timeout=True, sent=False)

    _, error = play(dialogue(outgoing("ada@example.com")), [*OPENING, OK, OK, GO_AHEAD, lost])

    assert isinstance(error, VendorUnavailableError)
    assert (error.retryable, error.maybe_processed) == (True, False)


def test_a_refusal_of_data_sends_no_content() -> None:
    sent, error = play(dialogue(outgoing("ada@example.com")), [*OPENING, OK, OK, Reply(554, "no")])

    assert isinstance(error, ConnectorError)
    assert not [c for c in sent if isinstance(c, Content)]


def test_the_content_goes_out_dot_stuffed_with_crlf_and_its_end_line() -> None:
    content = Content(b"Subject: hi\n\n.leading dot\r\nlast")

    assert content.wire() == b"Subject: hi\r\n\r\n..leading dot\r\nlast\r\n.\r\n"


@pytest.mark.parametrize(
    ("step", "reply", "expected", "retryable"),
    [
        ("the greeting", Reply(421, "4.3.2 busy"), VendorUnavailableError, True),
        ("the greeting", Reply(554, "5.7.1 no service"), VendorError, False),
        ("STARTTLS", Reply(454, "4.7.0 TLS not available"), VendorUnavailableError, True),
        ("AUTH", Reply(535, "5.7.8 bad credentials"), AuthenticationError, False),
        ("AUTH", Reply(504, "5.5.4 unknown mechanism"), AuthenticationError, False),
        ("AUTH", Reply(454, "4.7.0 try later"), VendorUnavailableError, True),
    ],
)
def test_refusals_before_a_message_map_to_errors_that_say_nothing_was_sent(
    step: str, reply: Reply, expected: type[ConnectorError], retryable: bool
) -> None:
    error = session_error(step, reply)

    assert type(error) is expected
    assert (error.retryable, error.maybe_processed) == (retryable, False)
    assert str(reply) in str(error)


# -- replies that are no answer ---------------------------------------------------------------

GARBLED = MalformedReplyError.unreadable(b"garbage\r\n")


@pytest.mark.parametrize(
    ("garbled_at", "maybe_processed"),
    [(Mail, False), (Rcpt, False), (Data, False), (Content, True)],
)
def test_an_unreadable_reply_is_no_refusal_and_may_have_delivered_only_after_the_content(
    garbled_at: type, maybe_processed: bool
) -> None:
    replies: list[Reply | ConnectionLostError] = [*OPENING, OK, OK, GO_AHEAD]
    del replies[len(OPENING) + [Mail, Rcpt, Data, Content].index(garbled_at) :]
    replies.append(GARBLED)

    sent, error = play(dialogue(outgoing("ada@example.com")), replies)

    assert type(error) is VendorUnavailableError
    assert (error.retryable, error.maybe_processed) == (True, maybe_processed)
    assert "unreadable reply" in str(error)
    assert not [c for c in sent if isinstance(c, Rset)]


@pytest.mark.parametrize(
    ("step", "reply", "maybe_processed"),
    [
        (Mail, Reply(354, "go ahead"), False),
        (Rcpt, Reply(354, "go ahead"), False),
        (Data, Reply(250, "OK"), False),
        (Content, Reply(354, "go ahead"), True),
    ],
)
def test_a_reply_of_a_class_the_step_cannot_have_is_no_answer(
    step: type, reply: Reply, maybe_processed: bool
) -> None:
    replies: list[Reply | ConnectionLostError] = [*OPENING, OK, OK, GO_AHEAD]
    del replies[len(OPENING) + [Mail, Rcpt, Data, Content].index(step) :]
    replies.append(reply)

    _, error = play(dialogue(outgoing("ada@example.com")), replies)

    assert type(error) is VendorUnavailableError
    assert error.maybe_processed is maybe_processed


@pytest.mark.parametrize("code", [200, 250, 251, 252, 299])
def test_every_2yz_to_the_content_is_the_server_taking_the_message(code: int) -> None:
    _, receipts = play(
        dialogue(outgoing("ada@example.com")), [*OPENING, OK, OK, GO_AHEAD, Reply(code, "ok")]
    )

    assert isinstance(receipts, list)
    assert receipts[0].recipients["ada@example.com"].status == "queued"


def test_in_a_batch_an_unreadable_answer_to_the_content_is_unknown_and_the_next_goes_anew() -> None:
    sent, receipts = play(
        dialogue(
            outgoing("a@example.com", "gone@reject.example"),
            outgoing("b@example.com", message_id="<2@x>"),
            batch=True,
        ),
        # Message 1: one recipient refused, the answer to its content garbled; message 2
        # over a new connection.
        [
            *OPENING,
            OK,
            OK,
            Reply(550, "5.1.1 no"),
            GO_AHEAD,
            GARBLED,
            *OPENING,
            OK,
            OK,
            GO_AHEAD,
            OK,
        ],
    )

    assert isinstance(receipts, list)
    first = receipts[0].recipients
    assert (first["a@example.com"].status, first["gone@reject.example"].status) == (
        "unknown",
        "rejected",
    )
    assert receipts[0].raw["unknown"] == ["a@example.com"]
    assert receipts[1].recipients["b@example.com"].status == "queued"
    assert [type(c) for c in sent].count(Connect) == 2
    assert not [c for c in sent if isinstance(c, Rset)]


def test_in_a_batch_an_unreadable_answer_to_rset_reconnects_for_the_next_message() -> None:
    sent, receipts = play(
        dialogue(
            outgoing("a@example.com"), outgoing("b@example.com", message_id="<2@x>"), batch=True
        ),
        [*OPENING, Reply(550, "5.7.1 no"), GARBLED, *OPENING, OK, OK, GO_AHEAD, OK],
    )

    assert isinstance(receipts, list)
    assert receipts[0].rejected["a@example.com"].reason == "550 5.7.1 no"
    assert receipts[1].recipients["b@example.com"].status == "queued"
    assert [type(c) for c in sent].count(Connect) == 2


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"250 OK\r\n", (250, False, b"OK")),
        (b"250-smtp.test\r\n", (250, True, b"smtp.test")),
        (b"250\r\n", (250, False, b"")),
        (b"554 5.7.1 no\n", (554, False, b"5.7.1 no")),
    ],
)
def test_a_reply_line_is_read_as_both_libraries_read_it(
    line: bytes, expected: tuple[int, bool, bytes]
) -> None:
    assert read_reply_line(line, len(line)) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"garbage\r\n",
        b"\r\n",
        b" 25 ok\r\n",
        b"+25 ok\r\n",
        b"2_5 ok\r\n",
        b"199 ok\r\n",
        b"600 ok\r\n",
        b"-12 ok\r\n",
        b"250 " + b"x" * 9000 + b"\r\n",
    ],
)
def test_a_line_without_a_reply_code_or_too_long_is_unreadable(line: bytes) -> None:
    with pytest.raises(MalformedReplyError, match="not an SMTP reply"):
        read_reply_line(line, len(line))


def test_a_reply_longer_than_the_bound_is_unreadable_whatever_its_lines() -> None:
    with pytest.raises(MalformedReplyError):
        read_reply_line(b"250-more\r\n", MAX_REPLY + 1)

"""A test that fails: the plugin must show what the call did."""

from bandwidth.models.create_call import CreateCall
from ivr_app import IvrApp


def test_expects_the_wrong_digit(switchboard):
    with IvrApp() as app:
        switchboard.phone("+15555550123", digits="2")
        created = switchboard.calls_api().create_call(
            switchboard.account_id,
            CreateCall(
                to="+15555550123",
                var_from=switchboard.numbers[0],
                application_id=switchboard.application_id,
                answer_url=app.url("/answer"),
            ),
        )
        call = switchboard.wait_for(created.call_id, state="disconnected")
        assert call.webhooks("gather")[0]["digits"] == "1"

"""An app on bandwidth-sdk 15.0.1, run by test_sdk15.py in a virtual environment of its own.

Configured as Bandwidth's samples configure it: credentials, no host (SDK 15 would ignore one:
every operation carries https://voice.bandwidth.com/api/v2). Only `switchboard.testing.hosts`
comes from Switchboard (stdlib only; PYTHONPATH=src), to route Bandwidth's names in here.

Protocol with the test: argv[1] is JSON {port, ca, account, username, password, from,
application, answer_url, disconnect_url}; the script prints one JSON line per step and, after
creating the call, waits for a line on stdin (the test moves the server's virtual clock).
"""

import json
import sys
from importlib.metadata import version

from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.call_state_enum import CallStateEnum
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from switchboard.testing.hosts import bandwidth_hosts


def say(**values: object) -> None:
    print(json.dumps(values), flush=True)


def main() -> None:
    args = json.loads(sys.argv[1])
    account = args["account"]
    with bandwidth_hosts("127.0.0.1", args["port"], args["ca"]):
        configuration = Configuration(username=args["username"], password=args["password"])
        with ApiClient(configuration) as client:
            calls = CallsApi(client)
            created = calls.create_call_with_http_info(
                account,
                CreateCall(
                    to="+15555551313",
                    var_from=args["from"],
                    application_id=args["application"],
                    answer_url=args["answer_url"],
                    disconnect_url=args["disconnect_url"],
                ),
            )
            headers = {key.lower(): value for key, value in created.headers.items()}
            call = created.data
            say(
                step="created",
                sdk=version("bandwidth-sdk"),
                status=created.status_code,
                call_id=call.call_id,
                call_url=call.call_url,
                location=headers.get("location"),
            )
            sys.stdin.readline()  # the test lets the phone answer

            state = calls.get_call_state(account, call.call_id)
            say(step="got", state=state.state, call_id=state.call_id)

            # SDK 15 has no list-calls operation: the app uses the SDK's own transport, on the
            # same hard-coded host its operations use.
            listed = client.call_api(
                "/accounts/{accountId}/calls",
                "GET",
                path_params={"accountId": account},
                header_params={"Accept": "application/json"},
                response_types_map={"200": "List[CallState]"},
                auth_settings=["Basic"],
                _host="https://voice.bandwidth.com/api/v2",
            )
            say(step="listed", status=listed.status_code, ids=[c.call_id for c in listed.data])

            updated = calls.update_call_with_http_info(
                account, call.call_id, UpdateCall(state=CallStateEnum.COMPLETED)
            )
            say(step="updated", status=updated.status_code)


if __name__ == "__main__":
    main()

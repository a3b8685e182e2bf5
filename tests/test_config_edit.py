"""Adding an origin to the user's TOML file edits that one array and nothing else."""

from __future__ import annotations

import tomllib

import pytest

from signer.cli.config_file import with_value_added

NEW = "https://qlvb.hanoi.gov.vn:443"


@pytest.mark.parametrize(("before", "after"), [
    ("", f'[server]\nallowed_origins = ["{NEW}"]\n'),
    ("port = 1", f'port = 1\n[server]\nallowed_origins = ["{NEW}"]\n'),
    ('[server]\r\nallowed_origins = []\r\n', f'[server]\r\nallowed_origins = ["{NEW}"]\r\n'),
    ("# mine\nport = 1\n", f'# mine\nport = 1\n\n[server]\nallowed_origins = ["{NEW}"]\n'),
    ("[server] # here\nport = 1\n", f'[server] # here\nport = 1\nallowed_origins = ["{NEW}"]\n'),
    ('[server]\nallowed_origins = [] # none yet\n', f'[server]\nallowed_origins = ["{NEW}"] # none yet\n'),
    ('[server]\nallowed_origins = ["a://b"]\n[consent]\nx = 1\n',
     f'[server]\nallowed_origins = ["a://b", "{NEW}"]\n[consent]\nx = 1\n'),
    ('[server]\nallowed_origins = [\n  "http://a:1", # first\n  \'http://b:2\',  # 2nd, ] not the end\n]\n',
     f'[server]\nallowed_origins = [\n  "http://a:1", # first\n  \'http://b:2\',  # 2nd, ] not the end\n  "{NEW}",\n]\n'),
    ('[serverx]\nallowed_origins = ["z"]\n[server]\nallowed_origins = ["q#]"]  # x\n',
     f'[serverx]\nallowed_origins = ["z"]\n[server]\nallowed_origins = ["q#]", "{NEW}"]  # x\n'),
    ('server = { allowed_origins = ["a://b"] }\n', f'server = {{ allowed_origins = ["a://b", "{NEW}"] }}\n'),
    ('server.allowed_origins = ["a://b"]\n', f'server.allowed_origins = ["a://b", "{NEW}"]\n'),
])
def test_the_one_array_is_edited(before: str, after: str) -> None:
    assert with_value_added(before, "server", "allowed_origins", NEW) == after
    assert tomllib.loads(after)["server"]["allowed_origins"][-1] == NEW


@pytest.mark.parametrize("before", [
    '[server]\nallowed_origins = "a://b"\n',  # not an array
    "server = 1\n",  # not a table
    "[server\n",  # not TOML
])
def test_what_is_not_an_array_of_a_table_is_refused(before: str) -> None:
    with pytest.raises(ValueError):
        with_value_added(before, "server", "allowed_origins", NEW)

"""Request checks of the localhost daemon, in the order they run: peer, Host, Origin or
API token, rate; then consent, queues and prompt guards inside the operations."""

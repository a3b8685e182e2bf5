"""Request checks of the localhost daemon, in the order they run: peer, Host, Origin or
API token, rate. Consent, queues and prompt guards are the signing service's."""

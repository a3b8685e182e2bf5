"""Checks of the localhost daemon before anything is asked: connections limited and given a
head deadline from their accept, within the open-file limit (connections, descriptors); then
each request's checks in the order they run: peer (and its request rate), Host, Origin or API
token, rate. Consent, queues and prompt guards are the signing service's."""

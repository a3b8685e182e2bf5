"""What the user's browsers need to reach the daemon: trust of the local CA (NSS databases) and the
managed policies that let the document system's origins through Local Network Access checks."""

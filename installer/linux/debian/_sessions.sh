# Shared by the maintainer scripts (inlined by build-deb.sh).

# Run `systemctl --user ACTION` in every running session.
# Nothing happens without systemd (a chroot, a container); a session that refuses is skipped.
user_units() {
    [ -d /run/systemd/system ] || return 0
    command -v loginctl >/dev/null 2>&1 || return 0
    for uid in $(loginctl list-users --no-legend 2>/dev/null | awk '{print $1}'); do
        user=$(getent passwd "$uid" | cut -d: -f1)
        [ -n "$user" ] || continue
        systemctl --user -M "$user@" "$@" >/dev/null 2>&1 || true
    done
}

# "NAME HOME" of each person's account with a home folder (uid 1000 and up, not nobody).
home_users() {
    getent passwd | while IFS=: read -r name _ uid _ _ home _; do
        [ "$uid" -ge 1000 ] 2>/dev/null && [ "$uid" -ne 65534 ] && [ -d "$home" ] || continue
        printf '%s %s\n' "$name" "$home"
    done
}

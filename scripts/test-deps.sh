#!/usr/bin/env bash
# System packages some tests use as independent oracles or drivers. Installed from Debian's packages when
# missing and we are root; otherwise those tests skip and say why.
set -u
need=()
command -v exiftool >/dev/null 2>&1 || need+=(libimage-exiftool-perl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test tools: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") \
    >/tmp/datadam-apt.log 2>&1 || echo "could not install ${need[*]} (see /tmp/datadam-apt.log); dependent tests will skip"
fi
exit 0

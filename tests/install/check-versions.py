#!/usr/bin/python3
# check-versions.py — every version the build states agrees with the project's.
#
# Usage: check-versions.py VERSION GIR [VAPI] [PC] [VERSION_H]
#
# No symbol in the GIR (Since: tags, which vapigen copies into the vapi as
# [Version (since = …)] and gi-docgen shows) is newer than VERSION, the
# project's: valac refuses a symbol 'since' a version newer than the
# installed .pc's, and gi-docgen calls it unstable. The .pc and
# acpu-version.h say VERSION.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import re
import sys
import xml.etree.ElementTree as ET


def key(version):
    return tuple(int(p) for p in version.split('.'))


def main(argv):
    version, gir = argv[1], argv[2]
    errors = []
    core = '{http://www.gtk.org/introspection/core/1.0}'
    for element in ET.parse(gir).getroot().iter():
        tag = element.tag.replace(core, '')
        since = element.get('version')
        if since is None or tag in ('repository', 'namespace', 'include'):
            continue
        if key(since) > key(version):
            errors.append(f"{gir}: {tag} {element.get('name')} is since {since}, "
                          f"newer than the project's {version}: Since: tags name the "
                          f"release that adds the API")
    for path in argv[3:]:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if path.endswith('.vapi'):
            for since in set(re.findall(r'since = "([0-9.]+)"', text)):
                if key(since) > key(version):
                    errors.append(f"{path}: symbols since {since}, newer than {version}")
        elif path.endswith('.pc'):
            if f"\nVersion: {version}\n" not in text:
                errors.append(f"{path}: Version is not {version}")
        elif path.endswith('.h'):
            if f'#define ACPU_VERSION_S "{version}"' not in text:
                errors.append(f"{path}: ACPU_VERSION_S is not {version}")
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(errors)} problem(s); project version {version}")
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

#!/usr/bin/python3
# run-doc-example.py — runs the complete program a guide in docs/ shows.
#
# Usage: run-doc-example.py GUIDE.md FIRST-LINE FILE EXPECTED-REGEX-FILE COMMAND…
#
# Takes the first fenced code block of GUIDE.md whose first line is
# FIRST-LINE, writes it to a temporary folder as FILE (the name the guide
# tells users to save it under), runs COMMAND… FILE there, and checks each output line against the regular
# expressions of EXPECTED-REGEX-FILE, one a line. So the guides' programs
# are kept working: users copy them. DOC_EXAMPLE_SUBST=FROM|TO in the
# environment replaces FROM by TO in the program first (an installed path
# by the source tree's).
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import re
import subprocess
import sys
import tempfile


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    guide, first_line, name, expected_file = argv[1:5]
    command = argv[5:]
    with open(guide, encoding='utf-8') as f:
        text = f.read()
    blocks = [b for b in re.findall(r'^```[a-z]*\n(.*?)^```', text, re.S | re.M)
              if b.split('\n', 1)[0] == first_line]
    if not blocks:
        print('no code block starting with %r in %s' % (first_line, guide), file=sys.stderr)
        return 1
    with open(expected_file, encoding='utf-8') as f:
        expected = [line.rstrip('\n') for line in f if line.strip()]

    program = blocks[0]
    if os.environ.get('DOC_EXAMPLE_SUBST'):
        old, new = os.environ['DOC_EXAMPLE_SUBST'].split('|', 1)
        if old not in program:
            print('%r is not in the program' % old, file=sys.stderr)
            return 1
        program = program.replace(old, new)

    with tempfile.TemporaryDirectory(prefix='acpu-doc-') as tmpdir:
        path = os.path.join(tmpdir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(program)
        proc = subprocess.run(command + [path], cwd=tmpdir, stdout=subprocess.PIPE, text=True)
    lines = proc.stdout.splitlines()
    print(proc.stdout, end='')
    if proc.returncode != 0:
        print('FAIL: exit status %d' % proc.returncode, file=sys.stderr)
        return 1
    if len(lines) != len(expected) or not all(re.fullmatch(e, l)
                                              for e, l in zip(expected, lines)):
        print('FAIL: the output does not match:\n' + '\n'.join(expected), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

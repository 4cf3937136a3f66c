#!/usr/bin/env python3
"""An external transform for anonymize (`command:`): fake IBANs that keep
the country, the length and valid check digits.

    account_iban: { command: "python3 examples/transforms/iban.py" }

The line protocol (docs/transforms.md, `command`): anonymize writes a batch
of values, one per line in COPY text form, then a line `\\.`; the program
answers one line per value, in the same order, then `\\.`. NULLs are never
sent. ANONYMIZE_COMMAND_KEY holds a key derived for this rule (hex); the
same value and key must always give the same output.
"""

import hashlib
import hmac
import os
import string
import sys

KEY = bytes.fromhex(os.environ["ANONYMIZE_COMMAND_KEY"])
LETTERS = string.ascii_uppercase


def check_digits(country: str, bban: str) -> str:
    """ISO 13616: 98 - (BBAN + country + "00") mod 97, letters as 10..35."""
    text = bban + country + "00"
    number = "".join(str(int(c, 36)) for c in text)
    return f"{98 - int(number) % 97:02d}"


def fake_iban(value: str) -> str:
    compact = value.replace(" ", "").upper()
    if len(compact) < 5 or not compact[:2].isalpha():
        # Not an IBAN: a keyed replacement of the same length, still no
        # real value.
        digest = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()
        return (digest * (len(value) // 64 + 1))[: len(value)]
    country = compact[:2]
    digest = hmac.new(KEY, compact.encode(), hashlib.sha256).digest()
    stream = iter(digest * (len(compact) // 32 + 1))
    # Letters stay letters and digits stay digits, so the bank's format holds.
    bban = "".join(
        LETTERS[next(stream) % 26] if c.isalpha() else str(next(stream) % 10)
        for c in compact[4:]
    )
    out = country + check_digits(country, bban) + bban
    if " " in value:
        out = " ".join(out[i : i + 4] for i in range(0, len(out), 4))
    return out


def main() -> None:
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "\\.":
            sys.stdout.write("\\.\n")
            sys.stdout.flush()  # the batch is answered: anonymize waits for it
            continue
        sys.stdout.write(fake_iban(line) + "\n")


if __name__ == "__main__":
    main()

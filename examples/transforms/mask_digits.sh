#!/bin/sh
# An external transform for anonymize (`command:`) in one line of shell:
# every digit becomes 0, everything else stays (a reference code such as
# `INV-2024-00042` keeps its shape).
#
#     invoice_ref: { command: "examples/transforms/mask_digits.sh" }
#
# The protocol (docs/transforms.md, `command`): a batch of values, one per
# line, then `\.`; one answer line per value, in order, then `\.`. `sed -u`
# answers each line as it comes and leaves the `\.` line as it is, which is
# exactly that. This one needs no key (ANONYMIZE_COMMAND_KEY is unused).
exec sed -u 's/[0-9]/0/g'

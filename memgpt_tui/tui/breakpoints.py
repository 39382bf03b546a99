"""The terminal sizes the screens adapt to. Textual sets one class of each list on a screen as the
terminal is resized, and the stylesheets lay the screens out by them."""

from __future__ import annotations

# Under 100 columns the side column cannot sit beside a readable conversation; from 160 there is room
# to spare for both.
WIDTHS = [(0, "-narrow"), (100, "-medium"), (160, "-wide")]
# Under 30 rows only one-line forms fit beside core memory; from 40 the whole gauge does.
HEIGHTS = [(0, "-short"), (30, "-mid-height"), (40, "-tall")]

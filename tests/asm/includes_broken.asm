.text
_start:
    nop
.include "broken.inc"
    ret

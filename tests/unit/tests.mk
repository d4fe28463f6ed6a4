# Unit tests: name them in UNIT_TESTS and list the sources each links
# (tests/unit/NAME.c is added automatically). Host-built with ASan/UBSan.
UNIT_TESTS :=

UNIT_TESTS += test_vnic_ring
test_vnic_ring_SOURCES :=

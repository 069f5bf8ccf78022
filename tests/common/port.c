/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/port.c - see tools/common/port.h.  The test binaries link
 * the objects of tests/common/ but not those of tools/common/
 * (configure.py), so the shared implementation is compiled in here.
 */
#include "tools/common/port.c"

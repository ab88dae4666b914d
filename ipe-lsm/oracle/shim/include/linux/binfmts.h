/* SPDX-License-Identifier: GPL-2.0-only */
#include "../../vfs_shim.h"

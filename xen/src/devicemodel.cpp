// SPDX-License-Identifier: MIT
// placeholder: filled by its issue-13 step

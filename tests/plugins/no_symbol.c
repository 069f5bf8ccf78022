/* SPDX-License-Identifier: Apache-2.0 */
/* tests/plugins/no_symbol.c - a shared object without the registration
 * symbol (say, a stray library in the plugin directory). */
int kvt_not_a_plugin(void);

int kvt_not_a_plugin(void)
{
	return 1;
}

/* Test driver: a shared object without the entry symbol. */
int lv_not_the_entry(void);
int lv_not_the_entry(void) { return 42; }

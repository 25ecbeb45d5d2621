// Package analysis computes what a boot's span tree says about the boot,
// apart from drawing it: the summary of phases, top spans and silent gaps
// that "boottrace summary" prints (as text or JSON).
package analysis

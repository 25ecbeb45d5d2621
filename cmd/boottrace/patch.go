package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/guestpatch"
)

func newPatchCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "patch KERNEL_DIR",
		Short: "Apply the BOOT_TRACE patch matching a kernel source tree's version",
		Long: `Apply the BOOT_TRACE guest patch to a kernel source tree: the version is read
from the tree's Makefile and the matching patch (Linux ` + strings.Join(guestpatch.Versions(), ", ") + `) is applied
with patch(1). A tree that already carries it is left alone.

Then enable it (CONFIG_BOOT_TRACE=y; guestpatch/configs/boottrace.config),
build and boot. The trace is read after the boot, one of three ways:
"sudo boottrace record -- VMM..." reads it from guest memory (no console
needed); with "boottrace=console" on the kernel command line the kernel
prints it on the console, whose output any boottrace command reads (the
BOOT_TRACE lines are found among the rest); /sys/kernel/debug/boot_trace
holds it too. "boottrace=off" disables recording.`,
		Example: `  boottrace patch --check /usr/src/linux-source-6.1
  boottrace patch /usr/src/linux-source-6.1
  scripts/config --file .config -e BOOT_TRACE`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := guestpatch.Apply(args[0], check)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case res.Already:
				fmt.Fprintf(out, "linux %s in %s already carries %s\n", res.Version, args[0], res.Patch)
			case check:
				fmt.Fprintf(out, "%s applies to linux %s in %s\n", res.Patch, res.Version, args[0])
			default:
				fmt.Fprintf(out, "applied %s to linux %s in %s; now set CONFIG_BOOT_TRACE=y\n", res.Patch, res.Version, args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only check that the patch applies; change nothing")
	return cmd
}

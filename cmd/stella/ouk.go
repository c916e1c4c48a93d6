package main

import "github.com/spf13/cobra"

func newOUKCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ouk",
		Short: "Build, sign, verify, import and manage Offline Update Kits",
	}
	cmd.AddCommand(
		newKeygenCommand(g),
		newBuildCommand(g),
		newSignCommand(g),
		newVerifyCommand(g),
		newImportCommand(g),
		newStatusCommand(g),
		newHistoryCommand(g),
		newRollbackCommand(g),
		newGCCommand(g),
		newCheckCommand(g),
		newDeltaCommand(g),
		newExportCommand(g),
		newInspectCommand(g),
		newWatchCommand(g),
		newPushCommand(g),
		newMirrorCommand(g),
	)
	return groupCommand(cmd)
}

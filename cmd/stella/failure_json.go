package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stella-ops.org/ouk/mirror"
)

// failureObject returns the JSON failure object that main prints for cmd
// when it failed with err before printing anything, with message, the
// text that stderr shows, as its error. For import it is the
// import failure object whenever args, the raw command line, give exactly
// one SOURCE, so a flag or argument error that stops the command before
// its own failure object names the source too.
func failureObject(cmd *cobra.Command, args []string, message string, err error, code int) any {
	if cmd.CommandPath() == "stella ouk import" {
		if operands := commandOperands(cmd, args); len(operands) == 1 {
			return importFailure{Status: "failed", Command: cmd.CommandPath(),
				Source: mirror.RedactURL(operands[0]), Error: message, Reason: failureReason(err, code), ExitCode: code}
		}
	}
	return commandFailure{Status: "failed", Command: cmd.CommandPath(), Error: message,
		Reason: failureReason(err, code), ExitCode: code}
}

// commandOperands returns the arguments of cmd in args, the raw command
// line, without flags, their values and the names of the command path. It
// reads the line as cobra does, so it works where parsing stopped at a bad
// flag: a flag that takes a value and has none after "=" takes the next
// argument, and everything after "--" is an operand. A flag that cmd does
// not define is taken to have no value.
func commandOperands(cmd *cobra.Command, args []string) []string {
	flags := cmd.Flags()
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, _, inline := strings.Cut(a[2:], "=")
			if !inline && takesValue(flags.Lookup(name)) {
				i++
			}
		case strings.HasPrefix(a, "-") && a != "-":
			if shorthandsTakeNext(flags, a[1:]) {
				i++
			}
		default:
			operands = append(operands, a)
		}
	}
	// cobra found cmd by the names of its path, which come first.
	depth := 0
	for c := cmd; c.HasParent(); c = c.Parent() {
		depth++
	}
	if len(operands) < depth {
		return nil
	}
	return operands[depth:]
}

// takesValue reports whether f is a flag that needs a value.
func takesValue(f *pflag.Flag) bool {
	return f != nil && f.NoOptDefVal == ""
}

// shorthandsTakeNext reports whether the shorthand flags in group, such
// as "vo" of "-vo", end with one that takes its value from the next
// argument. A shorthand that takes a value ends the group, and any
// characters after it are its value.
func shorthandsTakeNext(flags *pflag.FlagSet, group string) bool {
	for i := 0; i < len(group); i++ {
		f := flags.ShorthandLookup(group[i : i+1])
		if f == nil {
			return false
		}
		if takesValue(f) {
			return i == len(group)-1
		}
	}
	return false
}

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	store string
	// storeGiven is set when the command line gives --store, so that an
	// empty value can be distinguished from a missing flag.
	storeGiven bool
	verbose    bool
	quiet      bool
	lockWait   time.Duration
	// command is the path of the command that runs, such as "stella ouk
	// import", for the store's holder record.
	command string
	// svc is the store service that runs this command for a client, or
	// nil in a process of its own; see serve.go.
	svc *service
	// request is the service's record of this command while it runs.
	request *serviceRequest
	// sbomLabel is the name that a scan of --sbom - reports.
	sbomLabel string
}

func newRootCommand() *cobra.Command { return newRootCommandFor(nil, nil) }

// newRootCommandFor returns the command tree of one command line. svc is
// the store service that runs it as req, or both are nil.
func newRootCommandFor(svc *service, req *serviceRequest) *cobra.Command {
	g := &globalOptions{svc: svc, request: req}
	root := &cobra.Command{
		Use:           "stella",
		Short:         "Stella Ops: offline update kits and vulnerability lookups for air-gapped sites",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.store, "store", "",
		"store folder (default $STELLA_HOME, else ~/.local/share/stella)")
	root.PersistentFlags().DurationVar(&g.lockWait, "lock-timeout", 30*time.Second,
		"how long to wait for another stella process to release the store")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log each step on stderr")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "log only errors on stderr, no warnings or progress; the report on stdout still lists its warnings")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// In "stella ouk improt -o json", the group command ouk meets -o
		// after the mistyped word, and the word is what is wrong.
		if c.HasAvailableSubCommands() {
			if words := c.Flags().Args(); len(words) > 0 {
				return usagef("%v; see `%s --help`", unknownSubcommand(c, words), c.CommandPath())
			}
		}
		return usagef("%s", flagErrorText(err))
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		g.command = cmd.CommandPath()
		g.storeGiven = cmd.Flags().Changed("store")
		if g.lockWait < 0 {
			return usagef("--lock-timeout is %s; give 0 to fail at once when another process holds the store, or a positive duration such as 30s", g.lockWait)
		}
		return g.forwardToService(cmd, args)
	}

	root.AddCommand(newOUKCommand(g), newDBCommand(g), newScanCommand(g), newQuotaCommand(g), newServeCommand(g),
		newVersionCommand())
	groupCommand(root)
	root.SetHelpCommand(newHelpCommand())
	root.Version = currentVersion().summary()
	root.SetVersionTemplate("{{.Version}}\n")
	markArgErrorsAsUsage(root)
	return root
}

// newHelpCommand returns the help command. Unlike cobra's own, it fails
// with a usage error for a topic that names no command, so that "stella
// help improt" does not exit 0 as if it had shown help.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return usagef("no help topic %q; see `stella --help` for the commands", strings.Join(args, " "))
			}
			return target.Help()
		},
		ValidArgsFunction: completeHelpTopic,
	}
}

// completeHelpTopic completes the command names after "stella help", as
// the shell completes them after "stella": the subcommands of the command
// that args name, without hidden ones.
func completeHelpTopic(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	parent, rest, err := c.Root().Find(args)
	if err != nil || len(rest) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, sub := range parent.Commands() {
		if sub.IsAvailableCommand() && sub != c && strings.HasPrefix(sub.Name(), toComplete) {
			names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// markArgErrorsAsUsage makes a wrong number of arguments a usage error, so
// it exits with the usage code like an unknown flag does.
func markArgErrorsAsUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usagef("%v; see `%s --help`", err, c.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markArgErrorsAsUsage(sub)
	}
}

// groupCommand sets up cmd, a command that only holds subcommands, so that
// an unknown subcommand fails with a usage error. Without a Run function,
// cobra prints the help and exits 0 for "stella ouk improt KIT", which a
// script or service would take as success. Without arguments, the command
// prints its help.
func groupCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = unknownSubcommand
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		return c.Help()
	}
	return cmd
}

// unknownSubcommand is the argument check of a command that only holds
// subcommands: any argument reached it because no subcommand has its name.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if suggestions := c.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", suggestions[0])
	}
	return errors.New(msg)
}

// noArgs is the argument check of a command that accepts no arguments. It
// replaces cobra.NoArgs, which calls an argument an unknown command.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s accepts no arguments, but got %q", c.CommandPath(), args[0])
	}
	return nil
}

// maxArgs returns the argument check of a command that accepts at most n
// arguments. It replaces cobra.MaximumNArgs, whose message names neither
// the command nor the arguments.
func maxArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) > n {
			return fmt.Errorf("%s accepts at most %s, but got %s", c.CommandPath(), argumentCount(n), describeArgs(args))
		}
		return nil
	}
}

// exactArgs returns the argument check of a command that accepts exactly n
// arguments. It replaces cobra.ExactArgs, as maxArgs replaces
// cobra.MaximumNArgs.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s accepts exactly %s, but got %s", c.CommandPath(), argumentCount(n), describeArgs(args))
		}
		return nil
	}
}

// argumentCount spells out n arguments, as in "one argument".
func argumentCount(n int) string {
	switch n {
	case 1:
		return "one argument"
	case 2:
		return "two arguments"
	}
	return fmt.Sprintf("%d arguments", n)
}

// describeArgs returns the number of args followed by the quoted args, or
// "none".
func describeArgs(args []string) string {
	if len(args) == 0 {
		return "none"
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf("%d: %s", len(args), strings.Join(quoted, ", "))
}

// storeDir resolves the store folder from --store, $STELLA_HOME or the default.
func (g *globalOptions) storeDir() (string, error) {
	if g.svc != nil {
		return g.svc.dir, nil
	}
	// An empty value, as from a variable of a script that is not set,
	// would otherwise pick the default store.
	if g.storeGiven && strings.TrimSpace(g.store) == "" {
		return "", usagef("--store is empty; give the store folder, or leave --store out to use $STELLA_HOME " +
			"or the default ~/.local/share/stella")
	}
	if g.store != "" {
		if err := checkTilde("--store", g.store); err != nil {
			return "", err
		}
		return filepath.Abs(g.store)
	}
	if h, ok := os.LookupEnv("STELLA_HOME"); ok && strings.TrimSpace(h) == "" {
		return "", usagef("STELLA_HOME is set but empty; set it to the store folder, or unset it " +
			"(unset STELLA_HOME) to use the default ~/.local/share/stella")
	}
	if h := os.Getenv("STELLA_HOME"); h != "" {
		if err := checkTilde("STELLA_HOME", h); err != nil {
			return "", err
		}
		return filepath.Abs(h)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default store: %w; set STELLA_HOME or pass --store", err)
	}
	return filepath.Join(home, ".local", "share", "stella"), nil
}

// checkTilde returns a usage error when path, the value of the store
// setting name, starts with ~. A shell expands ~ only at the start of a
// word, so --store=~/stella or a quoted STELLA_HOME keeps it, and the
// store would be a folder named ~ in the working folder.
func checkTilde(name, path string) error {
	if !strings.HasPrefix(path, "~") {
		return nil
	}
	example := "an absolute path"
	if rest, ok := strings.CutPrefix(path, "~"); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
		example = "the path with $HOME, such as $HOME" + rest + ", or another absolute path"
	}
	return usagef("%s is %q, which starts with a ~ that no shell expanded; give %s", name, path, example)
}

// logger returns the logger for library events: warnings by default, every
// step with --verbose, on stderr.
func (g *globalOptions) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelInfo
	}
	if g.quiet {
		level = slog.LevelError
	}
	return newTextLogger(stderr, level)
}

// newTextLogger returns the logger of the commands, which writes lines of
// level and above to stderr without their time.
func newTextLogger(stderr io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return plainError(groups, a)
		}}))
}

// plainError replaces an error value in a log line by its message. The
// text handler prints values with %+v, and the errors of Pebble (from
// cockroachdb/errors) print their stack traces and attachments with it,
// thousands of characters that tell an operator nothing. It is a
// slog.HandlerOptions.ReplaceAttr function.
func plainError(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, err.Error())
		}
	}
	return a
}

// isTerminal reports whether w is a terminal, for progress bars. In the
// store service, it reports whether the client's stderr is one.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ isTerminal() bool }); ok {
		return t.isTerminal()
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// flagErrorText words a flag parsing error for the operator. The flag
// library appends the parser's own error, such as `strconv.ParseInt:
// parsing "abc": invalid syntax`, which is replaced by what the flag takes.
func flagErrorText(err error) string {
	msg := err.Error()
	if hint := dashFileHint(msg); hint != "" {
		return msg + "; " + hint
	}
	head, detail, ok := strings.Cut(msg, " flag: ")
	if !ok {
		return msg
	}
	switch {
	case strings.HasPrefix(detail, "strconv.ParseInt"), strings.HasPrefix(detail, "strconv.ParseUint"):
		detail = "give a whole number"
		if strings.Contains(msg, "value out of range") {
			detail = "the number is too large"
		}
	case strings.HasPrefix(detail, "strconv.ParseFloat"):
		detail = "give a number"
	case strings.HasPrefix(detail, "strconv.ParseBool"):
		detail = "give true or false"
	case strings.HasPrefix(detail, "time: "):
		detail = "give a duration such as 30s, 5m or 1h"
	default:
		return msg
	}
	return head + " flag: " + detail
}

// dashFileHint returns how to name a file whose name starts with a dash,
// when msg, the text of an unknown flag error of the flag parser, names
// such a file that exists. It returns "" otherwise.
func dashFileHint(msg string) string {
	var arg string
	if rest, ok := strings.CutPrefix(msg, "unknown shorthand flag: "); ok {
		// The text is "unknown shorthand flag: 'k' in -kit.tar.zst".
		_, arg, _ = strings.Cut(rest, " in ")
	} else {
		arg, _ = strings.CutPrefix(msg, "unknown flag: ")
	}
	if !strings.HasPrefix(arg, "-") {
		return ""
	}
	if _, err := os.Stat(arg); err != nil {
		return ""
	}
	return fmt.Sprintf("to name the file %s, write ./%s, or put -- before it to end the flags", arg, arg)
}

// onceString is a string flag that may be given only once, for a flag
// such as the signing key, where a second value silently replacing the
// first would sign with a key the operator did not mean.
type onceString struct {
	value *string
	set   bool
}

func newOnceString(p *string) *onceString { return &onceString{value: p} }

func (o *onceString) String() string {
	if o.value == nil {
		return ""
	}
	return *o.value
}

func (o *onceString) Set(s string) error {
	if o.set {
		return fmt.Errorf("given twice (%q and %q); a kit is signed with one key, so give it once", *o.value, s)
	}
	*o.value, o.set = s, true
	return nil
}

func (o *onceString) Type() string { return "string" }

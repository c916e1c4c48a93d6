package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stella-ops.org/ouk/cas"
	"stella-ops.org/ouk/internal/quota"
)

// quotaFlags are the token settings of commands that count scans.
type quotaFlags struct {
	envFile string
	keys    []string
}

func (f *quotaFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.envFile, "env-file", quota.DefaultEnvFile, "file holding STELLA_JWT=TOKEN, read when $STELLA_JWT is unset")
	cmd.Flags().StringArrayVar(&f.keys, "quota-key", nil,
		"public key file of a quota token issuer, trusted in addition to the *.pub files in the store's keys/quota folder (repeatable)")
}

// identify opens the quota counters and works out whom scans count for. A
// token that does not verify is reported on stderr and counted as anonymous.
func (f *quotaFlags) identify(g *globalOptions, store *cas.Store, storeDir string, log *slog.Logger,
	stderr io.Writer) (*quota.Quota, quota.Identity, error) {
	cfg, err := loadConfig(storeDir)
	if err != nil {
		return nil, quota.Identity{}, err
	}
	if cfg.warning != "" {
		fmt.Fprintln(stderr, "warning:", cfg.warning)
	}
	policy, err := cfg.quotaPolicy()
	if err != nil {
		return nil, quota.Identity{}, err
	}
	keysDir := filepath.Join(storeDir, storeQuotaKeysDir)
	// In the store service, a scan on a volume short of space is not
	// counted, as on a store opened read-only for lack of space, because a
	// failed write would stop the service's store.
	readOnly := store.ReadOnly() || g.writeSpaceShortfall(store) != nil
	q, err := quota.New(store.KV("quota"), quota.Options{Policy: policy, Logger: log, ReadOnly: readOnly,
		KeysDir: keysDir})
	if err != nil {
		return nil, quota.Identity{}, err
	}
	keys, err := loadQuotaKeys(keysDir, f.keys, stderr)
	if err != nil {
		return nil, quota.Identity{}, err
	}
	var tok quota.Token
	var warnings []string
	if g.request != nil && g.request.foreign {
		// The client of another user read its env file itself and sent
		// the token, if any, as $STELLA_JWT, with the file's name and the
		// warnings of reading it.
		if raw := strings.TrimSpace(g.getenv(quota.TokenEnv)); raw != "" {
			tok = quota.Token{Raw: raw, Source: quota.TokenEnv}
			if g.request.tokenSource != "" {
				tok.Source = g.request.tokenSource
			}
		}
		warnings = g.request.tokenWarnings
	} else {
		tok, warnings = loadQuotaToken(g.getenv, f.envFile, g.resolvePath(f.envFile))
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	id := q.Identify(tok, keys)
	if id.Warning != "" {
		fmt.Fprintln(stderr, "warning:", id.Warning)
	}
	warnTokenKeyInKitFolder(stderr, storeDir, tok, id)
	return q, id, nil
}

// loadQuotaToken reads the token that scans count for, from $STELLA_JWT
// through getenv, else from the env file at path, which --env-file gave
// as envFile. It also returns the warnings of a file that cannot be read,
// whose scans count as anonymous.
func loadQuotaToken(getenv func(string) string, envFile, path string) (quota.Token, []string) {
	var warnings []string
	if envFile != quota.DefaultEnvFile && getenv(quota.TokenEnv) == "" {
		if _, err := os.Stat(path); err != nil {
			warnings = append(warnings, fmt.Sprintf("--env-file %s cannot be read (%v); counting scans as anonymous",
				envFile, err))
		}
	}
	tok, err := quota.LoadToken(getenv, path)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("%v; counting scans as anonymous", err))
	}
	return tok, warnings
}

func newQuotaCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show the daily scan quota",
	}
	cmd.AddCommand(newQuotaStatusCommand(g))
	return groupCommand(cmd)
}

func newQuotaStatusCommand(g *globalOptions) *cobra.Command {
	var out outputFlag
	var qf quotaFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the quota mode, today's scan count, the limit and the time until reset",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			log := g.logger(cmd.ErrOrStderr())
			store, dir, err := g.openExistingStoreForReading(cmd.Context(), log, g.lockWait)
			if err != nil {
				return err
			}
			defer store.Close()
			warnings := cmd.ErrOrStderr()
			if g.quiet {
				// The JSON output still lists the damaged entries.
				warnings = io.Discard
			}
			q, id, err := qf.identify(g, store, dir, log, warnings)
			if err != nil {
				return err
			}
			st, err := q.Status(id)
			if err != nil {
				return fmt.Errorf("reading quota: %w", err)
			}
			warnQuotaDamaged(warnings, st.Damaged)
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			printQuota(cmd.OutOrStdout(), st, q.Policy())
			return nil
		},
	}
	qf.register(cmd)
	out.register(cmd)
	return cmd
}

// warnQuotaDamaged prints a warning line for each damaged quota entry that
// the quota step found and handled, from quota.State.Damaged.
func warnQuotaDamaged(w io.Writer, damaged []string) {
	for _, line := range damaged {
		fmt.Fprintln(w, "warning:", line)
	}
}

// printQuota prints st as text, and what happens to scans over the limit
// under policy.
func printQuota(w io.Writer, st quota.State, policy quota.Policy) {
	if st.Mode == quota.ModeToken {
		fmt.Fprintf(w, "Mode      token (%s)\n", strings.Join(tokenDetails(st), ", "))
	} else {
		fmt.Fprintln(w, "Mode      anonymous")
	}
	fmt.Fprintf(w, "Today     %d of %d scans (%s UTC)\n", st.Count, st.Limit, st.Day)
	fmt.Fprintf(w, "Resets in %s\n", st.ResetIn().Round(time.Minute))
	switch {
	case st.OverLimit && policy.SlowdownFraction > 0:
		fmt.Fprintf(w, "Over the limit: scans still run, each about %s slower, until the reset.\n",
			quota.SlowdownPercent(policy.SlowdownFraction))
	case st.OverLimit:
		fmt.Fprintln(w, "Over the limit: scans still run at full speed, because slowdownFraction is 0 in config.yaml.")
	}
}

// tokenDetails returns the parts of the token mode line: the sub claim,
// the tier in effect and the expiry. The sub claim is quoted with Go
// escapes, because a control character in it could otherwise move the
// cursor or forge an output line.
func tokenDetails(st quota.State) []string {
	var details []string
	if st.Subject != "" {
		details = append(details, "sub "+strconv.Quote(st.Subject))
	}
	if st.Tier > 0 {
		details = append(details, fmt.Sprintf("tier %d", st.Tier))
	} else {
		details = append(details, "free tier, because the token has no tier claim")
	}
	if st.ExpiresAt != nil {
		details = append(details, "expires "+st.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return details
}

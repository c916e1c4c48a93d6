// Package quota counts scans per UTC day against a fair-use limit that works
// offline. Anonymous use allows 33 scans a day per store. A signed token
// raises the limit to its tier claim, 333 for the free tier. The token is an
// ES256 JWT verified with the keys of token issuers, which the CLI reads from
// the store's keys/quota folder, apart from the keys that verify kits. A scan
// is never rejected. From 200 scans, or from 90 % of the limit, each scan
// returns a reminder line, and over the limit the caller delays each scan by
// about 10 % of its own duration.
//
// The counters live in a kv.Store, in production the quota namespace of the
// Pebble store, laid out as:
//
//	salt                        32 random bytes, written once per store, and
//	                            again with every counter deleted when the
//	                            stored value has another length
//	day/
//	└── <YYYY-MM-DD>/           UTC day
//	    └── <identity hash>     uint64 big-endian count of scans
//
// The identity hash is the hex SHA-256 of the salt, the mode and either the
// token's tid claim or, for anonymous scans, a fixed value, so raw token IDs
// are never stored and all anonymous scans of a store share one counter.
// Record deletes the counters of days more than 7 days before today in the
// batch that increments today's counter.
//
// Concurrency: Record runs its read, increment and prune under a mutex shared
// by every Quota in the process and commits one synced batch. Separate
// processes are serialized by the store's own lock, so the CLI must open the
// store with a lock wait instead of failing when another scan holds it.
// A store opened read-only, such as one on a read-only mount, is marked
// with Options.ReadOnly: New then writes no salt, and Record counts
// nothing and returns an error wrapping ErrReadOnly.
//
// The intended sequence in `stella scan`:
//
//	st, err := cas.Open(dir, cas.Options{LockWait: wait})        // waits for other scans
//	keys := public keys of --quota-key and of each *.pub file in home/keys/quota
//	q, err := quota.New(st.KV("quota"), quota.Options{Policy: cfg.Quota, Logger: log, KeysDir: home + "/keys/quota"})
//	tok, err := quota.LoadToken(os.Getenv, envFileFlag)          // err: warn, go on anonymous
//	id := q.Identify(tok, keys)                                  // id.Warning: print to stderr
//	start := time.Now()
//	... run the scan ...
//	dec, err := q.Record(id)                                     // err: warn, go on
//	if dec.Reminder != "" { print dec.Reminder to stderr }
//	time.Sleep(dec.Delay(time.Since(start)))                     // 0 within the limit
//	... print the results; with --output json include dec.State ...
//
// `stella quota status` runs the same steps up to Identify, then prints
// q.Status(id): mode, the token's sub, tier and expiry, today's count, the
// limit and ResetIn.
package quota

package main

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

type cryptoSigner = crypto.Signer

func readPassword(prompt string, confirm bool) ([]byte, error) {
	fmt.Fprint(os.Stderr, prompt)
	pw, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if !confirm {
		return pw, nil
	}
	fmt.Fprint(os.Stderr, "Enter password again: ")
	again, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the two passwords differ; run the command again")
	}
	return pw, nil
}

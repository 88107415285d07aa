package controller

import (
	"errors"
	"fmt"

	"github.com/workersvpc/connectivity-operator/internal/account"
)

// Condition messages are for users: stable (no timestamps) and ending in what to do next.

func accountMissingMessage(ref account.Ref) string {
	return fmt.Sprintf("%s does not exist: create it, or point spec.accountRef at an existing account", ref)
}

func accountNotReadyMessage(acct *account.Account) string {
	if c := acct.ReadyCondition(); c != nil {
		return fmt.Sprintf("%s is not ready (%s: %s)", acct.Ref, c.Reason, c.Message)
	}
	return fmt.Sprintf("%s has not been verified yet", acct.Ref)
}

func secretMessage(acct *account.Account, err error) string {
	if errors.Is(err, account.ErrSecretIncomplete) {
		return fmt.Sprintf("Secret %s of %s holds neither %q nor %q and %q: add the API token under %q",
			acct.Secret, acct.Ref, account.KeyAPIToken, account.KeyAPIKey, account.KeyEmail, account.KeyAPIToken)
	}
	return fmt.Sprintf("Secret %s of %s does not exist: create it with the API token under key %q",
		acct.Secret, acct.Ref, account.KeyAPIToken)
}

func deleteCredentialsMessage(what string) string {
	return fmt.Sprintf("cannot delete the Cloudflare service: %s; restore it, or set spec.deletionPolicy: Orphan to leave the service in Cloudflare", what)
}

func malformedMessage(acct *account.Account) string {
	return fmt.Sprintf("a credential in Secret %s of %s has white space or a line break inside it: put the API token under key %q as it is, without anything around or inside it",
		acct.Secret, acct.Ref, account.KeyAPIToken)
}

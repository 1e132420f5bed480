package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"stratus/console"
	"stratus/ec2api"
	"stratus/internal/pki"
	"stratus/meta/client"
)

// consoleAdmin gives the console's admin pages what `stratus status`, `stratus user` and
// `stratus key` use: meta, with the admin certificate.
type consoleAdmin struct {
	id    *pki.Identity
	addrs []string
	mc    *client.Client
	owned bool // mc is closed by close
}

func newConsoleAdmin(id *pki.Identity, addrs []string) (*consoleAdmin, error) {
	mc, err := metaClientAs(id, addrs)
	if err != nil {
		return nil, err
	}
	return &consoleAdmin{id: id, addrs: addrs, mc: mc, owned: true}, nil
}

func (a *consoleAdmin) close() {
	if a.owned {
		a.mc.Close()
	}
}

func (a *consoleAdmin) Status(ctx context.Context) (any, error) {
	opts := statusOptions{timeout: 3 * time.Second, parallel: 16, backlog: 10 * time.Minute, fullRatio: 0.9, lostHeartbeats: ec2api.DefaultLostHostHeartbeats}
	return gatherStatus(ctx, a.id, a.addrs, opts, time.Now()), nil
}

// listTable reads a whole table of meta.
func (a *consoleAdmin) listTable(ctx context.Context, table string) ([]client.Item, error) {
	var all []client.Item
	after := ""
	for range 10000 {
		items, more, err := a.mc.List(ctx, table, "", after, client.MaxListLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !more || len(items) == 0 {
			return all, nil
		}
		after = items[len(items)-1].Key
	}
	return all, nil
}

func (a *consoleAdmin) Users(ctx context.Context) ([]console.User, error) {
	accounts, err := a.listTable(ctx, client.TableAccounts)
	if err != nil {
		return nil, err
	}
	keys, err := a.listTable(ctx, client.TableAccessKeys)
	if err != nil {
		return nil, err
	}
	byAccount := map[string]*console.User{}
	var users []console.User
	for _, it := range accounts {
		var acc client.Account
		if json.Unmarshal(it.Value, &acc) == nil {
			users = append(users, console.User{Account: acc.ID, CreatedAt: acc.CreatedAt, Keys: []string{}})
		}
	}
	for i := range users {
		byAccount[users[i].Account] = &users[i]
	}
	for _, it := range keys {
		var k client.AccessKey
		if json.Unmarshal(it.Value, &k) == nil {
			if u := byAccount[k.Account]; u != nil {
				u.Keys = append(u.Keys, k.ID)
			}
		}
	}
	return users, nil
}

func (a *consoleAdmin) CreateUser(ctx context.Context, name string) (console.NewKey, error) {
	err := a.mc.CreateAccount(ctx, client.Account{ID: name, Name: name, CreatedAt: time.Now().UTC()})
	if errors.Is(err, client.ErrConflict) {
		return console.NewKey{}, fmt.Errorf("account %q exists", name)
	}
	if err != nil {
		return console.NewKey{}, err
	}
	return a.newKey(ctx, name)
}

func (a *consoleAdmin) CreateKey(ctx context.Context, account string) (console.NewKey, error) {
	if _, err := a.mc.Account(ctx, account); errors.Is(err, client.ErrNotFound) {
		return console.NewKey{}, fmt.Errorf("no account %q", account)
	} else if err != nil {
		return console.NewKey{}, err
	}
	return a.newKey(ctx, account)
}

func (a *consoleAdmin) newKey(ctx context.Context, account string) (console.NewKey, error) {
	id, secret := newAccessKey()
	if err := a.mc.CreateAccessKey(ctx, client.AccessKey{ID: id, Account: account, Secret: secret, CreatedAt: time.Now().UTC()}); err != nil {
		return console.NewKey{}, err
	}
	return console.NewKey{Account: account, AccessKey: id, SecretKey: secret}, nil
}

func (a *consoleAdmin) RevokeKey(ctx context.Context, id string) error {
	if _, err := a.mc.AccessKey(ctx, id); errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("no access key %q", id)
	} else if err != nil {
		return err
	}
	return a.mc.Delete(ctx, client.TableAccessKeys, id)
}

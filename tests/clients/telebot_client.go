// SPDX-License-Identifier: ISC

// telebot.v3 (Debian's golang-gopkg-telebot.v3-dev), unmodified, pointed at
// tgsidecar with Settings.URL. Built offline by tests/integration/t_clients.py
// (GOPATH mode against /usr/share/gocode).
// Input: TG_ARGS (JSON: api_root, token, chat_id, text, caption, doc,
// poll_timeout_s, poll_wait_s, signal_wait_s). After the first update it
// waits for SIGUSR1, stops the bot in the middle of its next long poll
// (telebot's Stop() cancels the request), prints "STOPPED", waits for
// SIGUSR2, starts it again and waits for a second update.
// Output: one line "RESULT {json}" on stdout.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	tele "gopkg.in/telebot.v3"
)

type args struct {
	APIRoot      string `json:"api_root"`
	Token        string `json:"token"`
	ChatID       int64  `json:"chat_id"`
	Text         string `json:"text"`
	Caption      string `json:"caption"`
	Doc          string `json:"doc"`
	PollTimeoutS int    `json:"poll_timeout_s"`
	PollWaitS    int    `json:"poll_wait_s"`
	SignalWaitS  int    `json:"signal_wait_s"`
}

type result struct {
	Lib      string                 `json:"lib"`
	Version  string                 `json:"version"`
	Errors   []string               `json:"errors"`
	GetMe    map[string]interface{} `json:"getMe,omitempty"`
	Send     map[string]interface{} `json:"send,omitempty"`
	Doc      map[string]interface{} `json:"doc,omitempty"`
	Download map[string]interface{} `json:"download,omitempty"`
	Update   map[string]interface{} `json:"update,omitempty"`
	Stopped  bool                   `json:"stopped"`
	Update2  map[string]interface{} `json:"update2,omitempty"`
}

var (
	out = result{Lib: "telebot.v3", Version: "3", Errors: []string{}}
	mu  sync.Mutex
)

func fail(step string, err interface{}) {
	mu.Lock()
	out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", step, err))
	mu.Unlock()
}

func steps(b *tele.Bot, a *args) {
	out.GetMe = map[string]interface{}{"id": b.Me.ID,
		"username": b.Me.Username, "is_bot": b.Me.IsBot}
	chat := &tele.Chat{ID: a.ChatID}

	if m, err := b.Send(chat, a.Text); err != nil {
		fail("sendMessage", err)
	} else {
		out.Send = map[string]interface{}{"message_id": m.ID, "text": m.Text}
	}

	doc := &tele.Document{File: tele.FromDisk(a.Doc), FileName: "random.bin",
		Caption: a.Caption}
	m, err := b.Send(chat, doc)
	if err != nil || m.Document == nil {
		fail("sendDocument", fmt.Sprintf("%v (document %v)", err, m))
		return
	}
	out.Doc = map[string]interface{}{"file_id": m.Document.FileID,
		"size": m.Document.FileSize}

	// getFile, then GET <URL>/file/bot<token>/<file_path>.
	rc, err := b.File(&m.Document.File)
	if err != nil {
		fail("download", err)
		return
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		fail("download", err)
	}
	out.Download = map[string]interface{}{"size": n,
		"sha256": hex.EncodeToString(h.Sum(nil))}
}

// waitFor returns the next update from got, or nil after the bound.
func waitFor(got chan map[string]interface{}, s int) map[string]interface{} {
	select {
	case u := <-got:
		return u
	case <-time.After(time.Duration(s) * time.Second):
		return nil
	}
}

func waitSignal(ch chan os.Signal, s int) bool {
	select {
	case <-ch:
		return true
	case <-time.After(time.Duration(s) * time.Second):
		return false
	}
}

func poll(b *tele.Bot, a *args) {
	got := make(chan map[string]interface{}, 4)
	b.Handle(tele.OnText, func(c tele.Context) error {
		m, err := b.Send(c.Chat(), "echo: "+c.Text())
		if err != nil {
			fail("handler", err)
			return err
		}
		got <- map[string]interface{}{"text": c.Text(),
			"from_id": c.Sender().ID, "echo_message_id": m.ID}
		return nil
	})
	usr1 := make(chan os.Signal, 1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)

	go b.Start()
	if out.Update = waitFor(got, a.PollWaitS); out.Update == nil {
		fail("poll", fmt.Sprintf("no update within %d s", a.PollWaitS))
		b.Stop()
		return
	}
	// The test signals once the next long poll is held upstream.
	if !waitSignal(usr1, a.SignalWaitS) {
		fail("stop", "no SIGUSR1")
		b.Stop()
		return
	}
	b.Stop()
	out.Stopped = true
	fmt.Println("STOPPED")
	if !waitSignal(usr2, a.SignalWaitS) {
		fail("restart", "no SIGUSR2")
		return
	}
	go b.Start()
	if out.Update2 = waitFor(got, a.PollWaitS); out.Update2 == nil {
		fail("poll after restart", fmt.Sprintf("no update within %d s",
			a.PollWaitS))
	}
	b.Stop()
}

func main() {
	var a args
	if err := json.Unmarshal([]byte(os.Getenv("TG_ARGS")), &a); err != nil {
		fmt.Fprintln(os.Stderr, "TG_ARGS:", err)
		os.Exit(2)
	}
	// What a user of telebot writes to use a local Bot API root.
	b, err := tele.NewBot(tele.Settings{
		URL:    a.APIRoot,
		Token:  a.Token,
		Poller: &tele.LongPoller{Timeout: time.Duration(a.PollTimeoutS) * time.Second},
	})
	if err != nil {
		fail("NewBot (getMe)", err)
	} else {
		steps(b, &a)
		poll(b, &a)
	}
	mu.Lock()
	j, _ := json.Marshal(out)
	mu.Unlock()
	fmt.Println("RESULT " + string(j))
}

package command

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// ---- pause and resume: clients of the admin API in adminapi/forwards.go ----

func newPauseCommand() *cobra.Command  { return newPauseResumeCommand("pause") }
func newResumeCommand() *cobra.Command { return newPauseResumeCommand("resume") }

func newPauseResumeCommand(action string) *cobra.Command {
	short := map[string]string{
		"pause":  "Stop delivering to the app; notifications are still verified, stored and acknowledged",
		"resume": "Deliver to the app again; the backlog drains at the forward's rate",
	}[action]
	c := &cobra.Command{
		Use:   action + " [--forward URL] [--admin ADDR]",
		Short: short,
		Long: short + `.

--forward URL names the antom_webhook forward (its forward URL as configured); without it,
every forward. The state is kept in Caddy's storage and survives restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			forward, _ := cmd.Flags().GetString("forward")
			admin, _ := cmd.Flags().GetString("admin")
			return runPauseResume(cmd.OutOrStdout(), admin, action, forward)
		},
	}
	c.Flags().String("forward", "", "the forward URL to "+action+" (default: every forward)")
	c.Flags().String("admin", "", adminFlagUsage)
	return c
}

func runPauseResume(w io.Writer, admin, action, forward string) error {
	uri := "/antom/forwards/" + action
	if forward != "" {
		uri += "?forward=" + url.QueryEscape(forward)
	}
	body, err := adminRequest(admin, http.MethodPost, uri)
	if err != nil {
		return err
	}
	var forwards []struct {
		Profile string `json:"profile"`
		URL     string `json:"url"`
		Paused  bool   `json:"paused"`
	}
	if err := json.Unmarshal(body, &forwards); err != nil {
		return fmt.Errorf("the admin API answered something that is not a list of forwards: %v", err)
	}
	for _, f := range forwards {
		state := "delivering"
		if f.Paused {
			state = "paused"
		}
		fmt.Fprintf(w, "%s\t%s (profile %s)\n", state, f.URL, f.Profile)
	}
	return nil
}

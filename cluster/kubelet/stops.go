package main

import (
	"encoding/json"
	"os"
	"time"
)

// StopRecord is one container's end when its pod was deleted: one JSON line
// in Config.StopLog. It shows whether a workload ends as Kubernetes asks
// (SIGTERM, then its own drain, inside the grace period) or had to be killed;
// the real kubelet says as much only in a "Killing" event and the exit code.
type StopRecord struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	Container string    `json:"container"`
	Signalled time.Time `json:"signalled"` // SIGTERM sent
	ExitCode  int32     `json:"exitCode"`
	AfterS    float64   `json:"afterS"` // from SIGTERM to the exit
	GraceS    float64   `json:"graceS"`
	Killed    bool      `json:"killed"` // SIGKILL after the grace period
	// runc://<id> for an image container, local://<pid> for a program.
	ContainerID string `json:"containerID,omitempty"`
}

// appendStops writes the records to the stop log (no log configured: nothing).
// One write per line on an O_APPEND file, so pods stopping at once do not interleave.
func appendStops(file string, records []StopRecord) {
	if file == "" || len(records) == 0 {
		return
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	for _, r := range records {
		line, err := json.Marshal(r)
		if err == nil {
			_, _ = f.Write(append(line, '\n'))
		}
	}
}

package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
)

func TestFieldPaths(t *testing.T) {
	for _, tc := range []struct {
		field string
		got   path.Path
		want  path.Path
	}{
		{"regions[1]", replicaSetAttributePath("regions[1]"), path.Root("regions").AtListIndex(1)},
		{"app.name", replicaSetAttributePath("app.name"), path.Root("app").AtName("name")},
		{"jobs[1].plan[0].passed[2]", pipelineAttributePath("jobs[1].plan[0].passed[2]"),
			path.Root("job").AtListIndex(1).AtName("step").AtListIndex(0).AtName("passed").AtListIndex(2)},
		{"jobs[0].plan[1].try.task", pipelineAttributePath("jobs[0].plan[1].try.task"),
			path.Root("job").AtListIndex(0).AtName("step").AtListIndex(1).AtName("task")},
		{"sources[0].http", pipelineAttributePath("sources[0].http"), path.Root("source").AtListIndex(0).AtName("http_url")},
		{"webhook_secrets.repo", pipelineAttributePath("webhook_secrets.repo"), path.Root("webhook_secrets_wo").AtMapKey("repo")},
		{"ttl", environmentPath("ttl"), path.Root("ttl")},
		{"overrides.web", environmentPath("overrides.web"), path.Root("overrides").AtMapKey("web")},
		{"overrides.web.instances", environmentPath("overrides.web.instances"), path.Root("overrides").AtMapKey("web").AtName("instances")},
		{"overrides.web.env.PORT", environmentPath("overrides.web.env.PORT"), path.Root("overrides").AtMapKey("web").AtName("env").AtMapKey("PORT")},
	} {
		if !tc.got.Equal(tc.want) {
			t.Errorf("%s: %s, want %s", tc.field, tc.got, tc.want)
		}
	}
}

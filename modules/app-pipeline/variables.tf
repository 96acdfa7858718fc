variable "space" {
  description = "Space of the app and its pipeline (a DNS label)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.space))
    error_message = "space must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "create_space" {
  description = "Create the space (true) or use an existing one (false)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the app and of its pipeline (a DNS label)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "name must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "repository" {
  description = "Git repository the pipeline watches: a URL git can fetch or a local path."
  type        = string
  validation {
    condition     = length(trimspace(var.repository)) > 0
    error_message = "repository must name a git repository (a URL or a path)."
  }
}

variable "branch" {
  description = "Branch whose commits are tested and deployed."
  type        = string
  default     = "main"
  validation {
    condition     = length(trimspace(var.branch)) > 0 && !can(regex("\\s", var.branch))
    error_message = "branch must be a branch name without spaces."
  }
}

variable "source_dir" {
  description = "Directory of the first release (usually a checkout of the repository); later releases come from the pipeline."
  type        = string
}

variable "build" {
  description = "Build command, run in the source (null: none)."
  type        = string
  default     = null
}

variable "command" {
  description = "Start command of one instance; it must listen on $PORT."
  type        = string
  validation {
    condition     = length(trimspace(var.command)) > 0
    error_message = "command must start the app, e.g. \"./web\"."
  }
}

variable "test_command" {
  description = "Command the pipeline's test job runs in the checkout; a failure stops the commit there."
  type        = string
  default     = "go test ./..."
  validation {
    condition     = length(trimspace(var.test_command)) > 0
    error_message = "test_command must be a command, e.g. \"go test ./...\"."
  }
}

variable "instances" {
  description = "Instances of the app."
  type        = number
  default     = 2
  validation {
    condition     = var.instances >= 1 && var.instances <= 256 && floor(var.instances) == var.instances
    error_message = "instances must be a whole number from 1 to 256."
  }
}

variable "env" {
  description = "Environment of the app's instances and builds."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.env) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "env names must be letters, digits and underscores, not starting with a digit."
  }
}

variable "routes" {
  description = "Routes of the app: \"host\" or \"host/path\". The first one is where the pipeline checks a deploy."
  type        = list(string)
  validation {
    condition     = length(var.routes) > 0
    error_message = "routes needs at least one route: the pipeline checks each deploy through it."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(/.*)?$", r))])
    error_message = "each route must be a lowercase host name, optionally followed by /path, e.g. \"web.example.com/api\"."
  }
}

variable "health_path" {
  description = "HTTP path that answers 200 when an instance is healthy; also what the pipeline checks."
  type        = string
  default     = "/healthz"
  validation {
    condition     = startswith(var.health_path, "/")
    error_message = "health_path must start with /."
  }
}

variable "strategy" {
  description = "How a new release rolls out: rolling, canary, blue_green or recreate."
  type        = string
  default     = "rolling"
  validation {
    condition     = contains(["rolling", "canary", "blue_green", "recreate"], var.strategy)
    error_message = "strategy must be one of rolling, canary, blue_green or recreate."
  }
}

variable "webhook_secret" {
  description = "Secret of the repository's webhook (at least 32 printable characters without spaces), e.g. an ephemeral variable of the caller. Ephemeral and sent write-only: never in the plan or the state. null: no usable webhook, polling only."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "webhook_secret_version" {
  description = "Change it to send a new webhook_secret (rotation): a write-only value cannot be compared."
  type        = number
  default     = null
}

variable "check_every" {
  description = "How often the pipeline polls the repository (a webhook checks at once too)."
  type        = string
  default     = "30s"
  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h))+$", var.check_every))
    error_message = "check_every must be a duration such as \"30s\" or \"1m\"."
  }
}

variable "previews" {
  description = "Check every change in its own preview environment before it reaches the app."
  type        = bool
  default     = true
}

variable "preview_ttl" {
  description = "How long a preview whose checks failed is kept for inspection (a passing one goes at once)."
  type        = string
  default     = "2h"
  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h))+$", var.preview_ttl))
    error_message = "preview_ttl must be a duration such as \"30m\" or \"2h\"."
  }
}

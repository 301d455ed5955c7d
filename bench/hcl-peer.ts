import * as fs from 'fs';
import * as path from 'path';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { durationSeconds } from '../config/units';
import { renderContinueConfig, renderMachineSettings, renderTabbyClientConfig } from '../render/code-server';

/**
 * The benchmark's peer: the workspaces stack written the way one would by hand in HCL
 * (for_each over a users map from users.auto.tfvars.json), with the same resources and
 * attributes the cdktf stack synthesizes. Generated into a temp dir by the benchmark only;
 * it is a yardstick, not a second product. `npm run bench` checks its plan against the
 * cdktf plan (same planned values per container and network) before quoting any ratio.
 */
export function writeHclPeer(dir: string, estate: EstateConfig, roster: Roster, stateDir: string): void {
  const p = estate.name;
  const input = { extensions: estate.extensions, aiGatewayUrl: 'http://ai-gateway:8081', chatModelName: estate.models.chat.name };
  fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'files', 'settings.json'), renderMachineSettings(input));
  fs.writeFileSync(path.join(dir, 'files', 'continue.yaml'), renderContinueConfig(input));
  fs.writeFileSync(path.join(dir, 'files', 'tabby.toml'), renderTabbyClientConfig(input));
  const users = Object.fromEntries(roster.users.map((u) => [u.username, { state: u.state, cpus: u.resources.cpus, memory: u.resources.memory, disk: u.resources.disk }]));
  fs.writeFileSync(path.join(dir, 'users.auto.tfvars.json'), `${JSON.stringify({ users, retired: roster.retired }, null, 2)}\n`);
  const stateFile = `${stateDir}/terraform.workspaces.tfstate`;
  const transfer = estate.workspaces.allowFileTransfer ? '' : '"--disable-file-downloads", "--disable-file-uploads", ';
  fs.writeFileSync(
    path.join(dir, 'main.tf'),
    `terraform {
  required_providers {
    docker = { source = "kreuzwerker/docker", version = "3.6.2" }
    null   = { source = "hashicorp/null", version = "3.2.4" }
  }
  backend "local" { path = ${JSON.stringify(stateFile)} }
}

provider "docker" { host = ${JSON.stringify(estate.dockerHost)} }
provider "null" {}

variable "users" {
  type = map(object({ state = string, cpus = number, memory = number, disk = number }))
}
variable "retired" { type = list(string) }

locals {
  active     = { for name, u in var.users : name => u if u.state != "archived" }
  state_file = ${JSON.stringify(stateFile)}
  recorded   = length(data.terraform_remote_state.previous) > 0 ? data.terraform_remote_state.previous[0].outputs.home_volume_users : []
  vanished   = sort(tolist(setsubtract(toset(local.recorded), toset(concat(sort(keys(var.users)), var.retired)))))
}

resource "docker_image" "code_server" {
  name         = ${JSON.stringify(estate.images.codeServer)}
  keep_locally = true
}

resource "docker_network" "workspace" {
  for_each   = local.active
  name       = "${p}-ws-\${each.key}"
  driver     = "bridge"
  internal   = true
  attachable = false
  labels {
    label = "webide.component"
    value = "workspace-network"
  }
  labels {
    label = "webide.user"
    value = each.key
  }
}

resource "docker_container" "ide" {
  for_each   = local.active
  name       = "${p}-ide-\${each.key}"
  hostname   = "${p}-ide-\${each.key}"
  image      = docker_image.code_server.image_id
  user       = "1000:1000"
  entrypoint = ["/usr/bin/code-server"]
  command = ["--bind-addr", "0.0.0.0:8080", "--auth", "none", "--disable-telemetry", "--disable-update-check", ${transfer}
    "--idle-timeout-seconds", "${durationSeconds(estate.workspaces.idleTimeout)}", "--extensions-dir", "/opt/code-server/extensions",
  "--user-data-dir", "/home/coder/.local/share/code-server", "/home/coder/project"]
  env           = ["EXTENSIONS_GALLERY={}", "HOME=/home/coder", "WEBIDE_USER=\${each.key}"]
  privileged    = false
  security_opts = ["no-new-privileges:true"]
  read_only     = true
  tmpfs         = { "/tmp" = "rw,nosuid,nodev,size=512m" }
  memory        = each.value.memory
  memory_swap   = each.value.memory
  cpu_period    = 100000
  cpu_quota     = floor(each.value.cpus * 100000 + 0.5)
  restart       = "unless-stopped"
  log_driver    = "json-file"
  log_opts      = { "max-file" = "5", "max-size" = "50m" }
  network_mode  = "bridge"
  capabilities {
    drop = ["ALL"]
  }
  networks_advanced {
    name = docker_network.workspace[each.key].name
  }
  mounts {
    type   = "volume"
    target = "/home/coder"
    source = "${p}-home-\${each.key}"
    volume_options {
      labels {
        label = "webide.component"
        value = "home"
      }
      labels {
        label = "webide.disk-quota-mib"
        value = tostring(each.value.disk)
      }
      labels {
        label = "webide.user"
        value = each.key
      }
    }
  }
  upload {
    file    = "/home/coder/.local/share/code-server/Machine/settings.json"
    content = file("\${path.module}/files/settings.json")
  }
  upload {
    file    = "/home/coder/.continue/config.yaml"
    content = file("\${path.module}/files/continue.yaml")
  }
  upload {
    file    = "/home/coder/.tabby-client/agent/config.toml"
    content = file("\${path.module}/files/tabby.toml")
  }
  healthcheck {
    test         = ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/healthz"]
    interval     = "15s"
    timeout      = "5s"
    start_period = "30s"
    retries      = 5
  }
  dynamic "labels" {
    for_each = {
      "webide.component" = "workspace", "webide.cpu-limit" = tostring(each.value.cpus), "webide.estate" = "${p}",
      "webide.profile" = "${estate.profile}", "webide.user" = each.key
    }
    content {
      label = labels.key
      value = labels.value
    }
  }
}

data "terraform_remote_state" "previous" {
  count    = fileexists(local.state_file) ? 1 : 0
  backend  = "local"
  config   = { path = local.state_file }
  defaults = { home_volume_users = [] }
}

resource "null_resource" "home_volume_guard" {
  lifecycle {
    precondition {
      condition     = length(local.vanished) == 0
      error_message = "Users removed from the roster still have home volumes: \${join(", ", local.vanished)}."
    }
  }
}

output "home_volume_users" { value = sort(keys(var.users)) }
output "retained_volumes" { value = [for name in sort(keys(var.users)) : "${p}-home-\${name}"] }
`,
  );
}

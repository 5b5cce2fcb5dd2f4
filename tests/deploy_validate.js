#!/usr/bin/env node
// tests/deploy_validate.js DEPLOY_DIR AFK_JSON_OUT - the Kubernetes objects
// of DEPLOY_DIR/kubernetes/*.yaml against Kubernetes' published schemas,
// and the properties the deploy promises (tests/deploy.sh runs it).
//
// Each document is checked by the model class of its apiVersion and kind
// from the npm package kubernetes-models, whose validate() holds it to
// the API's OpenAPI schema (types, enums, required fields).  Those
// schemas do not close objects, so a misspelt field would pass them (the
// API server's strict field validation would refuse it): the hardening
// checks below therefore name each field they require, which a misspelt
// one fails.  The ConfigMap's afk.json is written to AFK_JSON_OUT for
// `afk check-config`.
//
// Prints "ok - what" or "not ok - what" for each check; exits 1 when any
// failed.  NODE_PATH names the node_modules holding kubernetes-models and
// yaml.
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');
const YAML = require('yaml');

const [dir, afkJsonOut] = process.argv.slice(2);
if (!dir || !afkJsonOut) {
	console.error('usage: deploy_validate.js DEPLOY_DIR AFK_JSON_OUT');
	process.exit(2);
}

let failed = 0;
let passed = 0;

function check(what, fn) {
	try {
		fn();
		passed++;
		console.log(`ok - ${what}`);
	} catch (e) {
		failed++;
		// assert's own message spans lines; the values say it shorter.
		const why = e.generatedMessage ?
			`${JSON.stringify(e.actual)}, not ${JSON.stringify(e.expected)}` :
			e.message.split('\n')[0];
		console.log(`not ok - ${what}: ${why}`);
	}
}

// --- every document against its schema -------------------------------------

const kdir = path.join(dir, 'kubernetes');
const files = fs.readdirSync(kdir).filter((f) => /\.ya?ml$/.test(f)).sort();
const objects = [];

check('kubernetes/ holds manifests', () => assert.ok(files.length > 0));
for (const f of files) {
	const text = fs.readFileSync(path.join(kdir, f), 'utf8');
	YAML.parseAllDocuments(text).forEach((doc, i) => {
		const where = `${f}#${i}`;
		let obj;
		check(`${where} parses as YAML`, () => {
			const bad = doc.errors.concat(doc.warnings);
			assert.strictEqual(bad.length, 0, bad.map(String).join('; '));
			obj = doc.toJS();
			assert.ok(obj && typeof obj === 'object', 'not a mapping');
		});
		if (!obj)
			return;
		check(`${where} ${obj.kind} ${obj.metadata && obj.metadata.name} ` +
		      'is valid against the Kubernetes schema', () => {
			assert.ok(typeof obj.apiVersion === 'string', 'no apiVersion');
			assert.ok(/^[A-Za-z]+$/.test(obj.kind || ''), 'no kind');
			// "v1" -> kubernetes-models/v1/Kind, "batch/v1" -> batch/v1/Kind
			const mod = require(`kubernetes-models/${obj.apiVersion}/${obj.kind}`);
			const Model = mod[obj.kind];
			assert.ok(Model, `no model of ${obj.apiVersion} ${obj.kind}`);
			new Model(obj).validate();
		});
		objects.push(obj);
	});
}

function one(kind, name) {
	const found = objects.filter((o) => o.kind === kind &&
	                             o.metadata && o.metadata.name === name);
	assert.strictEqual(found.length, 1, `${found.length} ${kind} ${name}`);
	return found[0];
}

// --- the properties the deploy promises ------------------------------------

let cron, pod, containers = [], config, secret;
check('one CronJob afk, ConfigMap afk-config, Secret afk-tokens, ' +
      'PersistentVolumeClaim afk-state', () => {
	cron = one('CronJob', 'afk');
	pod = cron.spec.jobTemplate.spec.template.spec;
	containers = (pod.containers || []).concat(pod.initContainers || []);
	config = one('ConfigMap', 'afk-config');
	secret = one('Secret', 'afk-tokens');
	one('PersistentVolumeClaim', 'afk-state');
});
if (!pod || !config || !secret) {
	// Without these objects nothing below can be checked.
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(1);
}

check('ticks never overlap: concurrencyPolicy Forbid', () =>
	assert.strictEqual(cron.spec.concurrencyPolicy, 'Forbid'));
check('a late tick is dropped: startingDeadlineSeconds', () =>
	assert.ok(cron.spec.startingDeadlineSeconds > 0));
check('a failed tick is not retried: backoffLimit 0', () =>
	assert.strictEqual(cron.spec.jobTemplate.spec.backoffLimit, 0));
check('a stuck tick is killed: activeDeadlineSeconds', () =>
	assert.ok(cron.spec.jobTemplate.spec.activeDeadlineSeconds > 0));
check('restartPolicy Never', () =>
	assert.strictEqual(pod.restartPolicy, 'Never'));
check('no service account token in the pod', () =>
	assert.strictEqual(pod.automountServiceAccountToken, false));

const psc = pod.securityContext || {};
check('pod runs as non-root uid 10001 (fsGroup 10001)', () => {
	assert.strictEqual(psc.runAsNonRoot, true, 'runAsNonRoot');
	assert.strictEqual(psc.runAsUser, 10001, 'runAsUser');
	assert.strictEqual(psc.fsGroup, 10001, 'fsGroup');
});
check('the Dockerfile runs as the same uid', () => {
	const df = fs.readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
	const users = df.split('\n').filter((l) => /^USER\s/.test(l));
	assert.ok(users.length > 0, 'no USER');
	const uid = users[users.length - 1].split(/\s+/)[1].split(':')[0];
	assert.strictEqual(String(psc.runAsUser), uid, 'runAsUser');
});
check('pod seccompProfile RuntimeDefault', () =>
	assert.strictEqual((psc.seccompProfile || {}).type, 'RuntimeDefault'));

for (const c of containers) {
	const sc = c.securityContext || {};
	check(`container ${c.name}: read-only root filesystem`, () =>
		assert.strictEqual(sc.readOnlyRootFilesystem, true));
	check(`container ${c.name}: no privilege escalation, not privileged`, () => {
		assert.strictEqual(sc.allowPrivilegeEscalation, false);
		assert.notStrictEqual(sc.privileged, true);
	});
	check(`container ${c.name}: drops ALL capabilities, adds none`, () => {
		const caps = sc.capabilities || {};
		assert.ok((caps.drop || []).includes('ALL'), 'drop ALL');
		assert.strictEqual((caps.add || []).length, 0, 'add');
	});
	check(`container ${c.name}: resource requests and limits`, () => {
		const r = c.resources || {};
		for (const k of ['requests', 'limits'])
			for (const x of ['cpu', 'memory'])
				assert.ok(r[k] && r[k][x], `${k}.${x}`);
	});
}

const afk = pod.containers.find((c) => c.name === 'afk');
check('container afk runs one tick on the mounted config and state', () => {
	assert.ok(afk, 'no container afk');
	assert.deepStrictEqual(afk.args, ['tick', '--config', '/etc/afk/afk.json',
	                                  '--state-dir', '/var/lib/afk']);
	assert.strictEqual(afk.command, undefined, 'command overrides ENTRYPOINT');
});

const volumes = Object.fromEntries((pod.volumes || []).map((v) => [v.name, v]));
const mounts = (afk && afk.volumeMounts) || [];
function mountAt(p) {
	const m = mounts.find((x) => x.mountPath === p);
	assert.ok(m, `nothing mounted at ${p}`);
	return [m, volumes[m.name] || {}];
}
check('config: ConfigMap afk-config mounted read-only at /etc/afk', () => {
	const [m, v] = mountAt('/etc/afk');
	assert.strictEqual(m.readOnly, true, 'readOnly');
	assert.strictEqual((v.configMap || {}).name, 'afk-config');
});
check('state: PersistentVolumeClaim afk-state at /var/lib/afk, writable', () => {
	const [m, v] = mountAt('/var/lib/afk');
	assert.notStrictEqual(m.readOnly, true);
	assert.strictEqual((v.persistentVolumeClaim || {}).claimName, 'afk-state');
});
check('/tmp: an emptyDir', () => {
	const [, v] = mountAt('/tmp');
	assert.ok(v.emptyDir, 'not an emptyDir');
});
check('nothing else is mounted writable', () => {
	for (const m of mounts)
		assert.ok(m.readOnly === true ||
		          ['/var/lib/afk', '/tmp'].includes(m.mountPath), m.mountPath);
});

// The tokens: only from the Secret, never in argv or a literal env value.
const secretKeys = Object.keys(Object.assign({}, secret.data, secret.stringData));
const secretValues = Object.values(Object.assign({}, secret.stringData));
check('tokens come from Secret afk-tokens through envFrom secretRef', () => {
	const refs = (afk.envFrom || []).map((e) => (e.secretRef || {}).name);
	assert.ok(refs.includes('afk-tokens'), 'no envFrom secretRef afk-tokens');
});
check('no literal value in env for a token-like name', () => {
	for (const c of containers)
		for (const e of c.env || [])
			assert.ok(!(/TOKEN|SECRET|WEBHOOK|PASSWORD|KEY/i.test(e.name) &&
			            e.value !== undefined), `${c.name}: env ${e.name}`);
});
check('no token in args or command', () => {
	for (const c of containers) {
		const argv = (c.command || []).concat(c.args || []).join(' ');
		assert.ok(!/ghp_|github_pat_|xox[abp]-|hooks\.slack\.com/.test(argv),
		          `${c.name}: argv looks like it holds a token`);
		for (const v of secretValues)
			assert.ok(!argv.includes(v), `${c.name}: argv holds a Secret value`);
	}
});
check('the Secret holds placeholders, not tokens', () => {
	assert.ok(secretValues.length > 0, 'no stringData');
	for (const v of secretValues)
		assert.ok(/^REPLACE_ME/.test(v), `a value that is not REPLACE_ME...`);
	assert.strictEqual(secret.data, undefined, 'data: base64 values');
});

// The configuration in the ConfigMap, and how it fits the rest.
let cfg;
check('ConfigMap afk-config holds afk.json, valid JSON', () => {
	cfg = JSON.parse(config.data['afk.json']);
	fs.writeFileSync(afkJsonOut, config.data['afk.json']);
});
if (cfg) {
	check('afk.json: state_dir is the state volume', () =>
		assert.strictEqual(cfg.state_dir, '/var/lib/afk'));
	check('afk.json: allowlist ["acme/api"]', () =>
		assert.deepStrictEqual(cfg.allowlist, ['acme/api']));
	check('afk.json: every token variable it names is a key of the Secret', () => {
		let n = 0;
		for (const k of ['tracker', 'agent', 'ci', 'notifier']) {
			const a = cfg[k] || {};
			for (const key of ['token_env', 'webhook_env']) {
				if (a[key] === undefined)
					continue;
				n++;
				assert.ok(secretKeys.includes(a[key]), `${k}.${key} ${a[key]}`);
			}
			assert.strictEqual(a.token, undefined, `${k}.token`);
		}
		assert.ok(n > 0, 'names no token variable');
	});
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

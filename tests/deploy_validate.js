#!/usr/bin/env node
// tests/deploy_validate.js DEPLOY_DIR OUT_DIR - the Kubernetes objects
// of DEPLOY_DIR/kubernetes/*.yaml against Kubernetes' published schemas,
// and the properties the deploy promises (tests/deploy.sh runs it).
//
// Each document is checked by the model class of its apiVersion and kind
// from the npm package kubernetes-models, whose validate() holds it to
// the API's OpenAPI schema (types, enums, required fields).  Those
// schemas do not close objects, so a misspelt field would pass them (the
// API server's strict field validation would refuse it): the hardening
// checks below therefore name each field they require, which a misspelt
// one fails.  The afk.json of each ConfigMap afk-config (configmap.yaml,
// configmap-kubernetes-agent.yaml: the same ConfigMap, one runner or the
// other) is written to OUT_DIR/FILE.afk.json for `afk check-config`.
//
// Prints "ok - what" or "not ok - what" for each check; exits 1 when any
// failed.  NODE_PATH names the node_modules holding kubernetes-models and
// yaml.
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');
const YAML = require('yaml');

const [dir, outDir] = process.argv.slice(2);
if (!dir || !outDir) {
	console.error('usage: deploy_validate.js DEPLOY_DIR OUT_DIR');
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
const fileOf = new Map();	// object -> the file it is in

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
		fileOf.set(obj, f);
	});
}

function all(kind, name) {
	return objects.filter((o) => o.kind === kind &&
	                      (name === undefined ||
	                       (o.metadata && o.metadata.name === name)));
}

function one(kind, name) {
	const found = all(kind, name);
	assert.strictEqual(found.length, 1, `${found.length} ${kind} ${name}`);
	return found[0];
}

// --- the properties the deploy promises ------------------------------------

let cron, pod, containers = [], configs = [], secret;
check('one CronJob afk, Secret afk-tokens, PersistentVolumeClaim afk-state', () => {
	cron = one('CronJob', 'afk');
	pod = cron.spec.jobTemplate.spec.template.spec;
	containers = (pod.containers || []).concat(pod.initContainers || []);
	secret = one('Secret', 'afk-tokens');
	one('PersistentVolumeClaim', 'afk-state');
});
// Two files, one ConfigMap: applying either replaces the other.
check('ConfigMap afk-config in configmap.yaml (T3) and ' +
      'configmap-kubernetes-agent.yaml (kubernetes), nowhere else', () => {
	configs = all('ConfigMap', 'afk-config');
	assert.deepStrictEqual(configs.map((c) => fileOf.get(c)).sort(),
	                       ['configmap-kubernetes-agent.yaml', 'configmap.yaml']);
});
if (!pod || configs.length === 0 || !secret) {
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
check('the pod runs as ServiceAccount afk', () => {
	assert.strictEqual(pod.serviceAccountName, 'afk', 'serviceAccountName');
	// The deprecated alias, if set, must not name another.
	assert.ok([undefined, 'afk'].includes(pod.serviceAccount), 'serviceAccount');
});
check('no automounted service account token', () =>
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
// The token the kubernetes agent uses, mounted by hand where its
// in-cluster defaults look: afk's container only, read-only, short-lived.
const saDir = '/var/run/secrets/kubernetes.io/serviceaccount';
check(`service account token: projected at ${saDir} in container afk ` +
      'only, read-only, valid for at most an hour and at least a tick', () => {
	const [m, v] = mountAt(saDir);
	assert.strictEqual(m.readOnly, true, 'readOnly');
	const sources = (v.projected || {}).sources || [];
	const tokens = sources.filter((x) => x.serviceAccountToken);
	assert.strictEqual(tokens.length, 1, 'serviceAccountToken sources');
	const t = tokens[0].serviceAccountToken;
	assert.strictEqual(t.path, 'token', 'path');
	assert.ok(t.expirationSeconds <= 3600, `expirationSeconds ${t.expirationSeconds}`);
	assert.ok(t.expirationSeconds >= cron.spec.jobTemplate.spec.activeDeadlineSeconds,
	          'the token expires before a tick is killed');
	const ca = sources.find((x) => x.configMap) || {};
	assert.strictEqual((ca.configMap || {}).name, 'kube-root-ca.crt', 'ca.crt');
	for (const c of containers)
		if (c !== afk)
			assert.ok(!(c.volumeMounts || []).some((x) => x.name === m.name),
			          `${c.name} mounts it`);
});
check('nothing else is mounted writable', () => {
	for (const m of mounts)
		assert.ok(m.readOnly === true ||
		          ['/var/lib/afk', '/tmp'].includes(m.mountPath), m.mountPath);
});

// The tokens: only from the Secret, never in argv or a literal env value.
const secretKeys = Object.keys(Object.assign({}, secret.data, secret.stringData));
// Every Secret's values, afk's tokens and the agents' keys alike.
const secretValues = [].concat(...all('Secret').map((s) =>
	Object.values(Object.assign({}, s.stringData))));
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
for (const s of all('Secret'))
	check(`Secret ${s.metadata.name} holds placeholders, not tokens`, () => {
		const values = Object.values(Object.assign({}, s.stringData));
		assert.ok(values.length > 0, 'no stringData');
		for (const v of values)
			assert.ok(/^REPLACE_ME/.test(v), `a value that is not REPLACE_ME...`);
		assert.strictEqual(s.data, undefined, 'data: base64 values');
	});

// --- who may do what (rbac.yaml) --------------------------------------------

// A rule as "group/resource verb" lines, one per combination, so that two
// rules granting the same thing compare equal to one.
function grants(rules) {
	const out = [];
	for (const r of rules || [])
		for (const g of r.apiGroups || [])
			for (const res of r.resources || [])
				for (const v of r.verbs || [])
					out.push(`${g}/${res} ${v}`);
	return out.sort();
}

let role, binding;
check('no ClusterRole or ClusterRoleBinding: nothing cluster-wide', () => {
	for (const k of ['ClusterRole', 'ClusterRoleBinding'])
		assert.strictEqual(all(k).length, 0, k);
});
check('Role afk: no wildcard, no resourceNames, no non-resource URL', () => {
	role = one('Role', 'afk');
	for (const r of role.rules || []) {
		for (const k of ['apiGroups', 'resources', 'verbs'])
			assert.ok(!(r[k] || []).some((x) => x.includes('*')), `${k} *`);
		assert.strictEqual(r.nonResourceURLs, undefined, 'nonResourceURLs');
		assert.strictEqual(r.resourceNames, undefined, 'resourceNames');
	}
});
check('Role afk: Secrets neither listed nor watched', () => {
	assert.ok(role, 'no Role afk');
	for (const g of grants(role.rules))
		assert.ok(!/^\/secrets (list|watch)$/.test(g), g);
});
check('Role afk grants exactly what the kubernetes agent calls', () =>
	assert.deepStrictEqual(grants((role || {}).rules), [
		'/pods get', '/pods list', '/pods/log get',
		'/secrets create', '/secrets delete', '/secrets get', '/secrets patch',
		'batch/jobs create', 'batch/jobs delete', 'batch/jobs get',
		'batch/jobs list',
	].sort()));
check('RoleBinding afk binds Role afk to ServiceAccount afk, alone', () => {
	binding = one('RoleBinding', 'afk');
	assert.deepStrictEqual(binding.roleRef, {
		apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'afk'});
	assert.strictEqual((binding.subjects || []).length, 1, 'subjects');
	const s = binding.subjects[0];
	assert.deepStrictEqual([s.kind, s.name], ['ServiceAccount', 'afk']);
	assert.ok(s.namespace, 'a ServiceAccount subject names its namespace');
});
check('ServiceAccount afk: its token is not automounted', () =>
	assert.strictEqual(one('ServiceAccount', 'afk').automountServiceAccountToken,
	                   false));
check('ServiceAccount afk-agent: its token is not automounted', () =>
	assert.strictEqual(one('ServiceAccount', 'afk-agent').automountServiceAccountToken,
	                   false));
check('nothing binds ServiceAccount afk-agent', () => {
	for (const b of all('RoleBinding').concat(all('ClusterRoleBinding')))
		for (const s of b.subjects || [])
			assert.ok(!(s.kind === 'ServiceAccount' && s.name === 'afk-agent') &&
			          !(s.kind === 'Group' && /^system:serviceaccounts/.test(s.name)),
			          `${b.kind} ${b.metadata.name} binds ${s.kind} ${s.name}`);
});

// The configurations in the ConfigMaps, and how they fit the rest.
const secretKeysOf = (name) => {
	const s = one('Secret', name);
	return Object.keys(Object.assign({}, s.data, s.stringData));
};
for (const config of configs) {
	const f = fileOf.get(config);
	let cfg;
	check(`${f}: ConfigMap afk-config holds afk.json, valid JSON`, () => {
		cfg = JSON.parse(config.data['afk.json']);
		fs.writeFileSync(path.join(outDir, `${path.basename(f, '.yaml')}.afk.json`),
		                 config.data['afk.json']);
	});
	if (!cfg)
		continue;
	check(`${f}: afk.json: state_dir is the state volume`, () =>
		assert.strictEqual(cfg.state_dir, '/var/lib/afk'));
	check(`${f}: afk.json: allowlist ["acme/api"]`, () =>
		assert.deepStrictEqual(cfg.allowlist, ['acme/api']));
	check(`${f}: afk.json: every token variable it names is a key of the Secret`, () => {
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
	const a = cfg.agent || {};
	const kind = {'configmap.yaml': 't3',
	              'configmap-kubernetes-agent.yaml': 'kubernetes'}[f];
	check(`${f}: afk.json: agent kind ${kind}`, () =>
		assert.strictEqual(a.kind, kind));
	if (a.kind !== 'kubernetes')
		continue;
	check(`${f}: afk.json: the agents' Jobs run in the RoleBinding's namespace`, () => {
		assert.ok(binding, 'no RoleBinding afk');
		assert.strictEqual(a.namespace, (binding.subjects || [{}])[0].namespace);
	});
	check(`${f}: afk.json: the agents run as ServiceAccount afk-agent, ` +
	      'no token mounted', () => {
		assert.strictEqual(a.service_account, 'afk-agent', 'service_account');
		assert.strictEqual(a.automount_token, false, 'automount_token');
	});
	check(`${f}: afk.json: every agent key is a key of a Secret here, ` +
	      'not afk-tokens', () => {
		const refs = a.env_from_secrets || [];
		assert.ok(refs.length > 0, 'no env_from_secrets');
		for (const r of refs) {
			assert.notStrictEqual(r.secret, 'afk-tokens', `${r.name}: afk's own tokens`);
			assert.ok(secretKeysOf(r.secret).includes(r.key),
			          `${r.name}: no key ${r.key} in Secret ${r.secret}`);
		}
	});
	check(`${f}: afk.json: the agents' keys never reach afk's pod`, () => {
		const podText = JSON.stringify(pod);
		for (const r of a.env_from_secrets || [])
			assert.ok(!podText.includes(JSON.stringify(r.secret)),
			          `the CronJob's pod names Secret ${r.secret}`);
	});
	check(`${f}: afk.json: image, command, limits, deadline and TTL set`, () => {
		assert.ok(a.image, 'image');
		assert.ok(Array.isArray(a.command) && a.command.length > 0, 'command');
		for (const k of ['requests', 'limits'])
			for (const x of ['cpu', 'memory'])
				assert.ok(((a.resources || {})[k] || {})[x], `resources.${k}.${x}`);
		assert.ok(a.active_deadline > 0, 'active_deadline');
		assert.ok(a.ttl_after_finished > 0, 'ttl_after_finished');
	});
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

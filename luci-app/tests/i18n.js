'use strict';
/*
 * Translation template for luci-app-nftoffload, in the format of LuCI's
 * po/templates/*.pot: every _('literal') of the JS files, the menu titles
 * and the ACL descriptions, sorted by msgid, each with its references.
 *
 *   node luci-app/tests/i18n.js          print the template
 *   node luci-app/tests/i18n.js --write  rewrite po/templates/nftoffload.pot
 *
 * The i18n test compares the committed .pot with what this generates.
 */
const fs = require('node:fs');
const path = require('node:path');

const APP = path.resolve(__dirname, '..');
const REPO_PREFIX = 'luci-app';
const POT = path.join(APP, 'po/templates/nftoffload.pot');

function walk(dir, ext) {
	let out = [];
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory())
			out = out.concat(walk(p, ext));
		else if (e.name.endsWith(ext))
			out.push(p);
	}
	return out.sort();
}

function jsFiles() {
	return walk(path.join(APP, 'htdocs'), '.js');
}

/* Value of a JS single/double quoted string literal body. */
function unescapeJs(body) {
	return body.replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\s\S])/g, (m, e) => {
		switch (e[0]) {
		case 'n': return '\n';
		case 't': return '\t';
		case 'r': return '\r';
		case 'b': return '\b';
		case 'f': return '\f';
		case 'v': return '\v';
		case '0': return '\0';
		case 'u': return String.fromCodePoint(parseInt(e[1] == '{' ? e.slice(2, -1) : e.slice(1), 16));
		case 'x': return String.fromCharCode(parseInt(e.slice(1), 16));
		case '\n': return '';
		default: return e;
		}
	});
}

function lineOf(src, index) {
	return src.slice(0, index).split('\n').length;
}

/*
 * Every _( call of a source: { msgid, line } for literal arguments and
 * { error, line } for anything else (a variable or a concatenation cannot
 * be extracted, so it would never be translated).
 */
function scanSource(src) {
	const found = [];
	const callRe = /(^|[^\w$.])_\(/g;
	let m;

	while ((m = callRe.exec(src)) !== null) {
		const at = m.index + m[1].length;
		const rest = src.slice(callRe.lastIndex);
		const lit = /^\s*(?:'((?:[^'\\\n]|\\[\s\S])*)'|"((?:[^"\\\n]|\\[\s\S])*)")\s*([,)])/.exec(rest);

		if (!lit) {
			found.push({ error: 'non-literal argument to _()', line: lineOf(src, at) });
			continue;
		}

		found.push({ msgid: unescapeJs(lit[1] != null ? lit[1] : lit[2]), line: lineOf(src, at) });
	}

	return found;
}

function rel(file) {
	return REPO_PREFIX + '/' + path.relative(APP, file).split(path.sep).join('/');
}

/* JSON string values of `key` with their line numbers. */
function jsonStrings(file, key) {
	const src = fs.readFileSync(file, 'utf8');
	const re = new RegExp('"' + key + '"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"', 'g');
	const out = [];
	let m;
	while ((m = re.exec(src)) !== null)
		out.push({ msgid: JSON.parse('"' + m[1] + '"'), line: lineOf(src, m.index) });
	return out;
}

/* Map msgid → [references], plus a list of extraction errors. */
function collect() {
	const entries = new Map();
	const errors = [];
	const add = (msgid, ref) => {
		if (!entries.has(msgid))
			entries.set(msgid, []);
		entries.get(msgid).push(ref);
	};

	for (const f of jsFiles()) {
		for (const s of scanSource(fs.readFileSync(f, 'utf8'))) {
			if (s.error)
				errors.push(rel(f) + ':' + s.line + ': ' + s.error);
			else if (s.msgid === '')
				errors.push(rel(f) + ':' + s.line + ': empty msgid');
			else
				add(s.msgid, rel(f) + ':' + s.line);
		}
	}

	for (const f of walk(path.join(APP, 'root/usr/share/luci/menu.d'), '.json'))
		for (const s of jsonStrings(f, 'title'))
			add(s.msgid, rel(f) + ':' + s.line);

	for (const f of walk(path.join(APP, 'root/usr/share/rpcd/acl.d'), '.json'))
		for (const s of jsonStrings(f, 'description'))
			add(s.msgid, rel(f) + ':' + s.line);

	return { entries, errors };
}

function poEscape(s) {
	return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

function generate() {
	const { entries } = collect();
	const ids = [ ...entries.keys() ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
	let out = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';

	for (const id of ids) {
		out += '\n';
		for (const ref of entries.get(id))
			out += '#: ' + ref + '\n';
		out += 'msgid "' + poEscape(id) + '"\nmsgstr ""\n';
	}

	return out;
}

/* msgids of a .pot file (single-line msgids, as generate() writes them). */
function potMsgids(text) {
	const ids = [];
	const re = /^msgid "((?:[^"\\]|\\.)*)"$/gm;
	let m;
	while ((m = re.exec(text)) !== null)
		if (m[1] !== '')
			ids.push(JSON.parse('"' + m[1] + '"'));
	return ids;
}

module.exports = { POT, jsFiles, scanSource, collect, generate, potMsgids, unescapeJs };

if (require.main === module) {
	const { errors } = collect();
	if (errors.length) {
		process.stderr.write(errors.join('\n') + '\n');
		process.exit(1);
	}
	if (process.argv.includes('--write')) {
		fs.mkdirSync(path.dirname(POT), { recursive: true });
		fs.writeFileSync(POT, generate());
		process.stderr.write('wrote ' + POT + '\n');
	}
	else {
		process.stdout.write(generate());
	}
}

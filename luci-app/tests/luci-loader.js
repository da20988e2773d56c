'use strict';
/*
 * Loads a LuCI JS class file in node the way LuCI's L.require() does:
 * the leading 'use strict' / 'require NAME [as ALIAS]' string statements
 * name the dependencies, and the file body becomes the body of a factory
 * function(window, document, L, dep1, dep2, ...) whose return value is
 * the class. `_` and `E` are globals in LuCI; here they are passed in.
 */
const fs = require('node:fs');
const path = require('node:path');

const APP = path.resolve(__dirname, '..');
const RESOURCES = path.join(APP, 'htdocs/luci-static/resources');

/* Same grammar as luci.js: require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))? */
const REQUIRE_RE = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
const STRICT_RE = /^use[ \t]+strict$/;

/*
 * The dependency list of a class file, found exactly as luci.js does it:
 * every quoted string from the top of the file (comments are NOT skipped,
 * so a quote in a comment counts) is tested against the require grammar,
 * and the scan stops at the first string that is neither a require nor
 * 'use strict'.
 */
function parseRequires(source) {
	const deps = [];

	for (let i = 0, off = -1, quote = -1, esc = false; i < source.length; i++) {
		const chr = source.charCodeAt(i);

		if (esc) {
			esc = false;
		}
		else if (chr == 92) {
			esc = true;
		}
		else if (chr == quote) {
			const s = source.substring(off, i);
			const m = REQUIRE_RE.exec(s);

			if (m)
				deps.push({ name: m[1], as: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
			else if (!STRICT_RE.exec(s))
				break;

			off = -1;
			quote = -1;
		}
		else if (quote == -1 && (chr == 34 || chr == 39)) {
			off = i + 1;
			quote = chr;
		}
	}

	return deps;
}

/* Path of a LuCI class name below htdocs/luci-static/resources. */
function classPath(name) {
	return path.join(RESOURCES, name.replace(/\./g, '/') + '.js');
}

/*
 * Evaluate a class file. `deps` maps each required class name to the
 * instance to inject; `globals` supplies `_`, `E`, `L`, window, document.
 * Returns whatever the factory returned.
 */
function evalClassFile(file, deps, globals) {
	const source = fs.readFileSync(file, 'utf8');
	const reqs = parseRequires(source);
	const g = Object.assign({ window: {}, document: {}, L: {}, _: (s) => s, E: undefined }, globals || {});
	const names = [ 'window', 'document', 'L', '_', 'E' ].concat(reqs.map((r) => r.as));
	const args = [ g.window, g.document, g.L, g._, g.E ].concat(reqs.map((r) => {
		if (!(r.name in deps))
			throw new Error(file + " requires '" + r.name + "' but the test supplied no instance for it");
		return deps[r.name];
	}));

	const factory = new Function(...names, source + '\n//# sourceURL=' + file);
	return factory.apply(null, args);
}

/*
 * Test double for LuCI.baseclass: only what class modules use at load
 * time, `extend(properties)` returning a constructor whose prototype has
 * the properties. (The real one adds super() and friends.)
 */
const baseclass = {
	extend(props) {
		function Class() {}
		Class.prototype = Object.assign(Object.create(null), props);
		Class.extend = baseclass.extend;
		return Class;
	}
};

/*
 * Load nftoffload/logic.js as LuCI would: the factory must return a class
 * (a constructor), which LuCI then instantiates once.
 */
function loadLogic(translate) {
	const Class = evalClassFile(classPath('nftoffload.logic'), { baseclass }, { _: translate || ((s) => s) });
	if (typeof Class !== 'function')
		throw new Error('nftoffload/logic.js did not return a class');
	return new Class();
}

module.exports = { APP, RESOURCES, parseRequires, classPath, evalClassFile, baseclass, loadLogic };

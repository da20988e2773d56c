'use strict';
/*
 * TEST DOUBLES of the LuCI browser runtime, for running the view in node.
 * The real runtime (luci.js, form.js, ui.js, uci.js in a browser with
 * rpcd behind uhttpd) cannot run here. These doubles copy the behaviour
 * of the real code that the view depends on, as read in openwrt/luci:
 *
 *  - E()/dom.append(): an array child that is not a Node becomes a text
 *    node ('' + value, so null turns into the text "null"); a bare
 *    non-array string child is assigned to innerHTML (parsed as HTML!);
 *    a string starting with '<' as the tag is parsed as markup.
 *  - uci: local creates/changes on top of loaded values; get() of a whole
 *    section returns the loaded values without local changes; set() of
 *    '' or null deletes.
 *  - form.GridSection: rows are uci.sections(config, type) passed through
 *    filter(); options with editable=true render a widget, others render
 *    textvalue(section_id) into a td via E('td', attrs, value).
 *  - rpc.declare({object, method, params, expect, reject}): named params;
 *    expect picks a key; a failure rejects the promise.
 *  - poll.add(fn, seconds), ui.showModal/hideModal/addNotification,
 *    ui.createHandlerFn(ctx, fnOrName, ...args).
 * Everything else a real browser does (layout, CSS) is out of reach.
 */

/* ---- a minimal DOM -------------------------------------------------- */

const htmlSinks = [];

class Node {
	constructor(nodeType) {
		this.nodeType = nodeType;
		this.childNodes = [];
		this.parentNode = null;
	}
	get firstChild() { return this.childNodes[0] || null; }
	get lastChild() { return this.childNodes[this.childNodes.length - 1] || null; }
	get firstElementChild() { return this.childNodes.find((c) => c.nodeType === 1) || null; }
	get lastElementChild() { return [ ...this.childNodes ].reverse().find((c) => c.nodeType === 1) || null; }
	appendChild(child) {
		if (!(child instanceof Node))
			throw new TypeError('appendChild of a non-Node: ' + String(child));
		if (child.nodeType === 11) {
			for (const c of [ ...child.childNodes ])
				this.appendChild(c);
			return child;
		}
		if (child.parentNode)
			child.parentNode.removeChild(child);
		child.parentNode = this;
		this.childNodes.push(child);
		return child;
	}
	removeChild(child) {
		const i = this.childNodes.indexOf(child);
		if (i < 0)
			throw new Error('removeChild: not a child');
		this.childNodes.splice(i, 1);
		child.parentNode = null;
		return child;
	}
	get textContent() { return this.childNodes.map((c) => c.textContent).join(''); }
	/* every node below, depth first */
	*walk() {
		for (const c of this.childNodes) {
			yield c;
			yield* c.walk();
		}
	}
	querySelectorAll(sel) {
		const m = matcher(sel);
		return [ ...this.walk() ].filter((n) => n.nodeType === 1 && m(n));
	}
	querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
}

class Text extends Node {
	constructor(data) { super(3); this.data = String(data); }
	get textContent() { return this.data; }
	*walk() {}
}

class Fragment extends Node {
	constructor() { super(11); }
}

class Element extends Node {
	constructor(tag) {
		super(1);
		this.tagName = String(tag).toUpperCase();
		this.attributes = {};
		this.listeners = {};
	}
	setAttribute(k, v) { this.attributes[k] = String(v); }
	getAttribute(k) { return Object.prototype.hasOwnProperty.call(this.attributes, k) ? this.attributes[k] : null; }
	hasAttribute(k) { return this.getAttribute(k) !== null; }
	removeAttribute(k) { delete this.attributes[k]; }
	addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
	get className() { return this.getAttribute('class') || ''; }
	get classList() {
		const el = this;
		const list = () => el.className.split(/\s+/).filter(Boolean);
		return {
			contains: (c) => list().includes(c),
			add: (...cs) => el.setAttribute('class', [ ...new Set(list().concat(cs)) ].join(' ')),
			remove: (...cs) => el.setAttribute('class', list().filter((c) => !cs.includes(c)).join(' '))
		};
	}
	set innerHTML(html) {
		htmlSinks.push(String(html));
		while (this.firstChild)
			this.removeChild(this.firstChild);
		this.appendChild(new Text(String(html).replace(/<[^>]*>/g, '')));
	}
	/* run the click handlers like a user click; returns their results */
	click() {
		return (this.listeners.click || []).map((fn) => fn.call(this, { currentTarget: this, target: this, preventDefault() {} }));
	}
}

function matcher(sel) {
	const m = /^([a-zA-Z0-9]*)((?:\.[\w-]+)*)(?:\[([\w-]+)(?:="([^"]*)")?\])?$/.exec(sel.trim());
	if (!m)
		throw new Error('selector not supported by the DOM double: ' + sel);
	const tag = m[1].toUpperCase(), classes = m[2].split('.').filter(Boolean), attr = m[3], val = m[4];
	return (n) => (!tag || n.tagName === tag) &&
		classes.every((c) => n.classList.contains(c)) &&
		(!attr || (val === undefined ? n.hasAttribute(attr) : n.getAttribute(attr) === val));
}

const document = {
	createElement: (t) => new Element(t),
	createTextNode: (d) => new Text(d),
	createDocumentFragment: () => new Fragment()
};

/* Markup parsing, only for the inline SVG the view builds from numbers. */
function parseMarkup(html) {
	const tagRe = /<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g;
	const root = new Fragment();
	const stack = [ root ];
	let m, last = 0;

	while ((m = tagRe.exec(html)) !== null) {
		if (html.slice(last, m.index).trim() !== '')
			throw new Error('text in markup not supported: ' + html);
		last = tagRe.lastIndex;
		if (m[1]) {
			const top = stack.pop();
			if (!top.tagName || top.tagName !== m[2].toUpperCase())
				throw new Error('malformed markup: ' + html);
			continue;
		}
		const el = new Element(m[2]);
		for (const a of m[3].matchAll(/([\w:-]+)="([^"]*)"/g))
			el.setAttribute(a[1], a[2]);
		stack[stack.length - 1].appendChild(el);
		if (!m[4])
			stack.push(el);
	}
	if (stack.length !== 1 || html.slice(last).trim() !== '')
		throw new Error('unbalanced markup: ' + html);
	return root.firstChild;
}

/* ---- L.dom and E() as in luci.js --------------------------------------- */

const dom = {
	elem: (e) => e != null && typeof e === 'object' && 'nodeType' in e,
	append(node, children) {
		if (!this.elem(node))
			return null;
		if (Array.isArray(children)) {
			for (let i = 0; i < children.length; i++)
				if (this.elem(children[i]))
					node.appendChild(children[i]);
				else if (children !== null && children !== undefined)
					node.appendChild(document.createTextNode('' + children[i]));
			return node.lastChild;
		}
		else if (typeof children === 'function') {
			return this.append(node, children(node));
		}
		else if (this.elem(children)) {
			return node.appendChild(children);
		}
		else if (children !== null && children !== undefined) {
			node.innerHTML = '' + children;
			return node.lastChild;
		}
		return null;
	},
	content(node, children) {
		if (!this.elem(node))
			return null;
		while (node.firstChild)
			node.removeChild(node.firstChild);
		return this.append(node, children);
	},
	attr(node, key, val) {
		let attr = null;
		if (typeof key === 'object' && key !== null)
			attr = key;
		else if (typeof key === 'string')
			attr = {}, attr[key] = val;
		for (key in attr) {
			if (!Object.prototype.hasOwnProperty.call(attr, key) || attr[key] == null)
				continue;
			switch (typeof attr[key]) {
			case 'function': node.addEventListener(key, attr[key]); break;
			case 'object': node.setAttribute(key, JSON.stringify(attr[key])); break;
			default: node.setAttribute(key, attr[key]);
			}
		}
	},
	create(html, attr, data) {
		let elem;
		if (!(attr instanceof Object) || Array.isArray(attr))
			data = attr, attr = null;
		if (Array.isArray(html)) {
			elem = document.createDocumentFragment();
			for (const h of html)
				elem.appendChild(this.create(h));
		}
		else if (this.elem(html))
			elem = html;
		else if (html.charCodeAt(0) === 60)
			elem = parseMarkup(html);
		else
			elem = document.createElement(html);
		if (!elem)
			return null;
		this.attr(elem, attr);
		this.append(elem, data);
		return elem;
	}
};

const E = function() { return dom.create.apply(dom, arguments); };

/* ---- L ---------------------------------------------------------------- */

const L = {
	bind: (fn, self, ...args) => fn.bind(self, ...args),
	toArray(val) {
		if (val == null) return [];
		if (Array.isArray(val)) return val;
		if (typeof val === 'object') return [ val ];
		const s = String(val).trim();
		return s === '' ? [] : s.split(/\s+/);
	},
	isObject: (v) => v != null && typeof v === 'object'
};

/* ---- uci -------------------------------------------------------------- */

function makeUci(configs) {
	const values = {}, creates = {}, changes = {};
	let newidx = 0, sidn = 0;
	const state = { loads: [] };

	const uci = {
		state,
		load(pkgs) {
			pkgs = Array.isArray(pkgs) ? pkgs : [ pkgs ];
			state.loads.push(...pkgs);
			if (state.failLoad)
				return Promise.reject(state.failLoad);
			for (const p of pkgs) {
				if (values[p])
					continue;
				values[p] = {};
				(configs[p] || []).forEach((s, i) => {
					values[p][s['.name']] = Object.assign({ '.anonymous': true, '.index': i }, s);
				});
			}
			return Promise.resolve(pkgs);
		},
		add(conf, type, name) {
			const sid = name || 'new' + String(++sidn).padStart(6, '0');
			(creates[conf] = creates[conf] || {})[sid] = { '.type': type, '.name': sid, '.anonymous': !name, '.index': 1000 + newidx++ };
			return sid;
		},
		sections(conf, type, cb) {
			const v = values[conf];
			if (!v)
				return [];
			const out = [];
			for (const s in v)
				if (!type || v[s]['.type'] === type)
					out.push(Object.assign({}, v[s], (changes[conf] || {})[s]));
			for (const s in creates[conf] || {})
				if (!type || creates[conf][s]['.type'] === type)
					out.push(Object.assign({}, creates[conf][s]));
			out.sort((a, b) => a['.index'] - b['.index']);
			if (cb)
				out.forEach((s) => cb(s, s['.name']));
			return out;
		},
		get(conf, sid, opt) {
			if (creates[conf] && creates[conf][sid])
				return opt == null ? creates[conf][sid] : creates[conf][sid][opt];
			if (opt != null) {
				const c = (changes[conf] || {})[sid];
				if (c && Object.prototype.hasOwnProperty.call(c, opt))
					return c[opt] === null ? undefined : c[opt];
				return values[conf] && values[conf][sid] ? values[conf][sid][opt] : undefined;
			}
			/* like the real one: the loaded section, without local changes */
			return values[conf] ? values[conf][sid] : undefined;
		},
		set(conf, sid, opt, val) {
			if (sid == null || opt == null || opt.charAt(0) === '.')
				return;
			if (creates[conf] && creates[conf][sid]) {
				if (val != null) creates[conf][sid][opt] = val;
				else delete creates[conf][sid][opt];
				return;
			}
			if (!values[conf] || !values[conf][sid])
				return;
			((changes[conf] = changes[conf] || {})[sid] = changes[conf][sid] || {})[opt] = (val == null || val === '') ? null : val;
		},
		unset(conf, sid, opt) { return this.set(conf, sid, opt, null); },
		/* test inspection: local creates and changes, as uci.save() would send them */
		pending: () => ({ creates: JSON.parse(JSON.stringify(creates)), changes: JSON.parse(JSON.stringify(changes)) })
	};

	return uci;
}

/* ---- rpc -------------------------------------------------------------- */

function makeRpc() {
	const rpc = {
		declared: [],
		calls: [],
		/* handler(object, method, params) → value | Error (rejects) */
		handler: () => new Error('RPC call failed with error -32000: Object not found'),
		declare(opts) {
			rpc.declared.push(opts);
			return function() {
				const params = {};
				(opts.params || []).forEach((p, i) => { params[p] = arguments[i]; });
				rpc.calls.push({ object: opts.object, method: opts.method, params });
				let ret;
				try {
					ret = rpc.handler(opts.object, opts.method, params);
				}
				catch (e) {
					ret = e;
				}
				if (ret instanceof Error)
					return Promise.reject(ret);
				if (opts.expect) {
					const key = Object.keys(opts.expect)[0];
					if (ret != null && key !== '')
						ret = ret[key];
					if (ret == null || Object.prototype.toString.call(ret) !== Object.prototype.toString.call(opts.expect[key]))
						ret = opts.expect[key];
				}
				return Promise.resolve(ret);
			};
		}
	};
	return rpc;
}

/* ---- ui, poll, view --------------------------------------------------- */

function makeUi() {
	const ui = {
		modal: null,
		notifications: [],
		showModal(title, children) {
			const dlg = E('div', { 'class': 'modal' }, [ E('h4', {}, [ title ]) ]);
			dom.append(dlg, children);
			ui.modal = dlg;
			return dlg;
		},
		hideModal() { ui.modal = null; },
		addNotification(title, children, ...classes) {
			const n = E('div', { 'class': 'alert-message ' + classes.join(' ') }, []);
			dom.append(n, children);
			ui.notifications.push(n);
			return n;
		},
		createHandlerFn(ctx, fn, ...args) {
			const f = (typeof fn === 'string') ? ctx[fn] : fn;
			if (typeof f !== 'function')
				throw new TypeError('createHandlerFn: not a function: ' + fn);
			return function(ev) { return f.apply(ctx, args.concat([ ev ])); };
		}
	};
	return ui;
}

function makePoll() {
	return {
		entries: [],
		add(fn, interval) {
			if (typeof fn !== 'function' || isNaN(interval))
				throw new TypeError('Invalid argument to LuCI.Poll.add()');
			this.entries.push({ fn, interval });
			return true;
		}
	};
}

const view = {
	extend(props) {
		function View() {}
		View.prototype = Object.assign({}, props);
		return View;
	}
};

/* ---- form ------------------------------------------------------------- */

function makeForm(uci) {
	class AbstractValue {
		constructor(map, section, option, title, description) {
			Object.assign(this, { map, section, option, title, description });
			this.rmempty = true;
			this.default = null;
			this.keylist = [];
			this.vallist = [];
		}
		value(k, v) { this.keylist.push(k); this.vallist.push(v != null ? v : k); }
		cfgvalue(sid) { return uci.get(this.map.config, sid, this.option); }
		textvalue(sid) {
			const v = this.cfgvalue(sid);
			return v == null ? this.default : String(v).replace(/[<>&"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
		}
	}
	class DummyValue extends AbstractValue {}
	class ListValue extends AbstractValue {
		renderWidget(sid) {
			const v = this.cfgvalue(sid) != null ? this.cfgvalue(sid) : this.default;
			return E('select', { 'id': 'cbid.' + this.map.config + '.' + sid + '.' + this.option },
				this.keylist.map((k, i) => E('option', { 'value': k, 'selected': (k === v) ? 'selected' : null }, [ this.vallist[i] ])));
		}
	}

	class GridSection {
		constructor(map, sectiontype, title, description) {
			Object.assign(this, { map, sectiontype, title, description });
			this.children = [];
			this.addremove = false;
		}
		filter() { return true; }
		option(cls, ...args) {
			if (!(cls.prototype instanceof AbstractValue))
				throw new TypeError('Class must be a descendant of CBIAbstractValue');
			const o = new cls(this.map, this, ...args);
			this.children.push(o);
			return o;
		}
		cfgsections() {
			return uci.sections(this.map.config, this.sectiontype).map((s) => s['.name']).filter((sid) => this.filter(sid));
		}
		render() {
			const table = E('table', { 'class': 'table cbi-section-table' }, [
				E('tr', { 'class': 'tr cbi-section-table-titles' },
					this.children.filter((o) => !o.modalonly).map((o) => E('th', { 'class': 'th' }, [ o.title || '' ])))
			]);
			for (const sid of this.cfgsections()) {
				const tr = E('tr', { 'class': 'tr cbi-section-table-row', 'data-sid': sid }, []);
				for (const o of this.children) {
					if (o.modalonly)
						continue;
					if (o.editable) {
						tr.appendChild(E('td', { 'class': 'td cbi-value-field', 'data-name': o.option, 'data-title': o.title }, [ o.renderWidget(sid) ]));
					}
					else {
						const value = o.textvalue(sid);
						/* as renderTextValue(): E('td', attrs, value) */
						tr.appendChild(E('td', { 'class': 'td cbi-value-field', 'data-name': o.option, 'data-title': o.title },
							(value != null) ? value : E('em', [ 'none' ])));
					}
				}
				table.appendChild(tr);
			}
			return E('div', { 'class': 'cbi-section cbi-tblsection' }, [ E('h3', {}, [ this.title || '' ]), table ]);
		}
	}

	class Map {
		constructor(config, title, description) {
			Object.assign(this, { config, title, description });
			this.parsechain = [ config ];
			this.children = [];
		}
		chain(config) {
			if (!this.parsechain.includes(config))
				this.parsechain.push(config);
		}
		section(cls, ...args) {
			const s = new cls(this, ...args);
			this.children.push(s);
			return s;
		}
		render() {
			return uci.load(this.parsechain).then(() => {
				/* like renderContents(): title and description only when set */
				this.root = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + this.config }, [
					(this.title != null && this.title != '') ? E('h2', {}, [ this.title ]) : null,
					(this.description != null && this.description != '') ? E('div', { 'class': 'cbi-map-descr' }, [ this.description ]) : null
				].filter(Boolean).concat(this.children.map((s) => s.render())));
				return this.root;
			});
		}
	}

	return { Map, GridSection, ListValue, DummyValue, AbstractValue };
}

module.exports = { Node, Element, Text, document, dom, E, L, htmlSinks, makeUci, makeRpc, makeUi, makePoll, makeForm, view, parseMarkup };

// The contract's operations (schema/contract/operations, the repository's copy of the
// frontends' contract) as examples: grouped by file, each with the fragments it uses and
// sample variables that work against the demo data (src/samples.js).
//
// Sample values written `$name` are looked up when the example is loaded (the first demo
// product, a product with several variants, the signed-in customer's address, their latest
// order…), so they are real ids of whatever database the playground talks to. Ids from the
// playground's own results (an order just placed, a product just created) are remembered and
// preferred. `{stamp}` inside a string becomes a stamp of that load, for the values that
// must not repeat (SKU codes, brand names).

import { Kind, parse, print, visit } from 'graphql';
import { DEMO_CUSTOMER, SAMPLES } from './samples.js';
import { request } from './session.js';
import passing from '../../schema/contract-passing.txt?raw';

const files = import.meta.glob('../../schema/contract/operations/*.graphql', {
  query: '?raw',
  import: 'default',
  eager: true,
});
// The operations the supergraph serves (the contract ratchet's list, `file/Name` a line):
// the contract's later operations become examples once they are listed there.
const listed = new Set(
  passing
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#')),
);

// The order in which the groups are listed.
const GROUP_ORDER = ['catalog', 'auth', 'cart', 'orders', 'payments', 'live', 'flash-sale', 'assistant', 'admin'];
const GROUP_TITLES = {
  catalog: 'Storefront: catalog',
  auth: 'Storefront: account',
  cart: 'Storefront: cart',
  orders: 'Storefront: orders',
  payments: 'Storefront: payments',
  live: 'Live (subscriptions)',
  'flash-sale': 'Storefront: flash sales',
  assistant: 'Storefront: shopping assistant',
  admin: 'Admin console',
};

function groupOf(path) {
  return path.split('/').pop().replace(/\.graphql$/, '');
}

function collectExamples() {
  const fragments = new Map();
  const operations = [];
  for (const [path, text] of Object.entries(files)) {
    const group = groupOf(path);
    for (const definition of parse(text).definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
      if (definition.kind === Kind.OPERATION_DEFINITION && listed.has(`${group}/${definition.name.value}`))
        operations.push({ group, definition });
    }
  }
  // An operation's text: itself and every fragment it uses, directly or through another one.
  const textOf = (definition) => {
    const used = new Set();
    const pending = [definition];
    while (pending.length) {
      visit(pending.pop(), {
        FragmentSpread(node) {
          const name = node.name.value;
          if (!used.has(name) && fragments.has(name)) {
            used.add(name);
            pending.push(fragments.get(name));
          }
        },
      });
    }
    return [definition, ...[...used].map((name) => fragments.get(name))].map(print).join('\n\n');
  };
  return operations.map(({ group, definition }) => {
    const name = definition.name.value;
    const sample = SAMPLES[name] ?? {};
    return {
      name,
      group,
      kind: definition.operation,
      who: sample.who ?? 'anyone',
      query: textOf(definition),
      variables: sample.variables ?? {},
    };
  });
}

export const EXAMPLES = collectExamples();

/** The examples grouped for the list, in a stable order. */
export function groupedExamples() {
  const groups = new Map();
  for (const example of EXAMPLES) {
    if (!groups.has(example.group)) groups.set(example.group, []);
    groups.get(example.group).push(example);
  }
  const rank = (group) => (GROUP_ORDER.includes(group) ? GROUP_ORDER.indexOf(group) : GROUP_ORDER.length);
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([group, examples]) => ({ group, title: GROUP_TITLES[group] ?? group, examples }));
}

export function exampleNamed(name) {
  return EXAMPLES.find((example) => example.name === name);
}

// Values seen in the playground's own results, by sample name.
const remembered = new Map();
// Which result field holds which sample value: `{ key: [names] }`, or a function of the
// result field that answers `{ name: value }`.
const REMEMBER = {
  checkout: { id: ['order', 'pendingOrder'] },
  payOrder: { id: ['payment'] },
  purchaseFlashSale: { id: ['purchase'] },
  addAddress: { id: ['address'] },
  // CreateProduct and CreateProductWithVariants: a product with several variants is the
  // variant examples' product (and its first variant in stock theirs); with one, `$product`.
  createProduct: (product) =>
    product.variants?.length > 1
      ? { variantProduct: product.id, variant: inStockVariant(product.variants)?.id }
      : { product: product.id },
  addProductVariant: { id: ['variant'] },
  createBrand: { id: ['brand'] },
  createCategory: { id: ['category'] },
  createFlashSale: { id: ['flashSale'] },
  // A refresh token from Login or Register run in the editor: RefreshToken then rotates
  // that one, never the panel's own session.
  login: { refreshToken: ['refreshToken'] },
  register: { refreshToken: ['refreshToken'] },
  refreshToken: { refreshToken: ['refreshToken'] },
  // The assistant's conversation (follow-ups and AssistantConversation) and the action it
  // proposed (ConfirmAssistantAction, DeclineAssistantAction); the stream's last event too.
  sendAssistantMessage: (message) => assistantIds(message),
  assistantReply: (event) => ({ ...assistantIds(event.message), assistantConversation: event.conversationId }),
};

function assistantIds(message) {
  return { assistantConversation: message?.conversationId, assistantAction: message?.action?.id };
}

/** Remembers values the playground saw elsewhere (the Assistant panel's conversation and action). */
export function remember(values) {
  for (const [name, value] of Object.entries(values)) if (typeof value === 'string') remembered.set(name, value);
}

// A variant in stock (`inStock`, or `stock` above 0 where the result has only that), the first
// one when none says.
function inStockVariant(variants) {
  return variants.find((v) => v.inStock ?? (v.stock ?? 0) > 0) ?? variants[0];
}

const resultListeners = new Set();

/**
 * Records the latest result of a query or mutation run in the editor: remembers the values
 * it holds (an order just placed, a payment just started…) and tells the listeners (the
 * Examples panel shows whether it had errors).
 */
export function recordResult(operationName, result) {
  rememberIds(result);
  const codes = (result?.errors ?? []).map((e) => e.extensions?.code ?? 'ERROR');
  const summary = { operationName: operationName ?? '(anonymous)', codes, message: result?.errors?.[0]?.message };
  for (const listener of resultListeners) listener(summary);
}

/** Calls `listener({ operationName, codes, message })` after every result; returns the unsubscribe function. */
export function onResult(listener) {
  resultListeners.add(listener);
  return () => resultListeners.delete(listener);
}

function rememberIds(result) {
  const data = result?.data;
  if (!data || typeof data !== 'object') return;
  for (const [field, values] of Object.entries(REMEMBER)) {
    const found = data[field];
    if (!found || typeof found !== 'object') continue;
    if (typeof values === 'function') {
      for (const [name, value] of Object.entries(values(found))) {
        if (typeof value === 'string') remembered.set(name, value);
      }
      continue;
    }
    for (const [key, names] of Object.entries(values)) {
      const value = found[key];
      if (typeof value === 'string') for (const name of names) remembered.set(name, value);
    }
  }
}

const first = (list) => (Array.isArray(list) && list.length ? list[0] : undefined);
const nodes = (connection) => connection?.edges?.map((edge) => edge.node) ?? [];

// The product the variant examples use, with what they need of it: the one remembered (made
// by CreateProductWithVariants), else the newest product in stock with several variants. The
// list asks for little per product (the router refuses costly documents), the product more.
const VARIANT_PRODUCTS =
  '{ products(first: 50, filter: { inStock: true }, sort: NEWEST) { edges { node { id variants { id inStock } } } } }';
const VARIANT_PRODUCT = `query($id: ID!) {
  product(id: $id) { id category { id } brand { id } options { name values } variants { id inStock options { name value } } }
}`;
async function findVariantProduct() {
  const wanted = remembered.get('variantProduct');
  const id =
    wanted ??
    nodes((await request(VARIANT_PRODUCTS)).data?.products).find(
      (p) => p.variants?.length > 1 && p.variants.some((v) => v.inStock),
    )?.id;
  if (!id) return undefined;
  return (await request(VARIANT_PRODUCT, { id })).data?.product ?? undefined;
}

// One search for every `$variant…` value of a load (they are looked up together).
let variantProductSearch = null;
function variantProduct() {
  variantProductSearch ??= findVariantProduct().finally(() => {
    variantProductSearch = null;
  });
  return variantProductSearch;
}

// The first combination of the product's option values that none of its variants has, as
// `[{ name, value }]`.
function freeCombination(product) {
  const key = (options) => JSON.stringify(options.map((o) => [o.name, o.value]));
  const taken = new Set(product.variants.map((v) => key(v.options)));
  let combinations = [[]];
  for (const option of product.options) {
    combinations = combinations.flatMap((chosen) =>
      option.values.map((value) => [...chosen, { name: option.name, value }]),
    );
  }
  return product.options.length ? combinations.find((c) => !taken.has(key(c))) : undefined;
}

// How each `$name` is found when nothing was remembered; each answers a value (mostly an id)
// or undefined.
const LOOKUPS = {
  product: async () => nodes((await request('{ products(first: 5) { edges { node { id inStock } } } }')).data?.products)
    .find((p) => p.inStock)?.id,
  otherProduct: async () => nodes((await request('{ products(first: 5) { edges { node { id } } } }')).data?.products)[1]?.id,
  category: async () => first((await request('{ categories { id } }')).data?.categories)?.id,
  address: async () => first((await request('{ me { addresses { id } } }')).data?.me?.addresses)?.id,
  order: async () =>
    nodes((await request('{ me { orders(first: 1) { edges { node { id } } } } }')).data?.me?.orders)[0]?.id,
  pendingOrder: async () =>
    nodes((await request('{ me { orders(first: 1, status: PENDING_PAYMENT) { edges { node { id } } } } }')).data?.me?.orders)[0]
      ?.id,
  payment: async () =>
    nodes((await request('{ me { orders(first: 10) { edges { node { payments { id } } } } } }')).data?.me?.orders)
      .flatMap((order) => order.payments ?? [])[0]?.id,
  flashSale: async () => first((await request('{ flashSales(status: ACTIVE) { id } }')).data?.flashSales)?.id,
  brand: async () => first((await request('{ brands { id } }')).data?.brands)?.id,
  variantProduct: async () => (await variantProduct())?.id,
  variant: async () => {
    const product = await variantProduct();
    return product && inStockVariant(product.variants)?.id;
  },
  variantCategory: async () => (await variantProduct())?.category?.id,
  variantBrand: async () => (await variantProduct())?.brand?.id,
  // Its first option with its first value, as a filter.
  variantOption: async () => {
    const option = first((await variantProduct())?.options);
    return option && { name: option.name, values: option.values.slice(0, 1) };
  },
  freeOptions: async () => {
    const product = await variantProduct();
    return product && freeCombination(product);
  },
  demoCustomer: async () =>
    nodes((await request(`{ users(first: 1, search: "${DEMO_CUSTOMER}") { edges { node { id } } } }`)).data?.users)[0]?.id,
};

// What to do when a `$name` has no value yet.
const HINTS = {
  address: '<sign in, then run AddAddress>',
  order: '<no order yet: run Checkout>',
  pendingOrder: '<no order waiting for payment: run Checkout>',
  payment: '<no payment yet: run PayOrder>',
  purchase: '<no purchase yet: run BuyFlashSale>',
  flashSale: '<no active flash sale: run CreateFlashSale as admin>',
  variantProduct: '<no product in stock with several variants: run CreateProductWithVariants as admin>',
  variant: '<no product in stock with several variants: run CreateProductWithVariants as admin>',
  variantCategory: '<no product in stock with several variants, or it has no category>',
  variantBrand: '<no product in stock with several variants, or it has no brand>',
  variantOption: '<no product in stock with several variants>',
  freeOptions: '<every combination has a variant: run CreateProductWithVariants as admin>',
  demoCustomer: '<sign in as the admin>',
  refreshToken: '<run Login or Register here first>',
  assistantConversation: '<no conversation yet: run AskAssistant or use the Assistant panel>',
  assistantAction: '<no proposal yet: run AskAssistant (it asks to buy) or use the Assistant panel>',
};

function randomKey() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function valueOf(name) {
  switch (name) {
    case 'key':
      return `playground-${randomKey()}`;
    case 'newEmail':
      return `playground-${randomKey()}@example.com`;
    case 'now':
      return new Date(Date.now() + 5_000).toISOString();
    case 'inOneHour':
      return new Date(Date.now() + 3_600_000).toISOString();
    default:
      break;
  }
  if (remembered.has(name)) return remembered.get(name);
  try {
    return await LOOKUPS[name]?.();
  } catch {
    return undefined;
  }
}

/**
 * The example's variables with every `$name` replaced by a real value (or by a hint that
 * says what to run first). Returns `{ variables, missing }`.
 */
export async function resolveVariables(example) {
  const missing = [];
  const cache = new Map();
  const stamp = Date.now().toString(36).toUpperCase();
  const resolve = async (value) => {
    if (Array.isArray(value)) return Promise.all(value.map(resolve));
    if (value && typeof value === 'object') {
      const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolve(v)]));
      return Object.fromEntries(entries);
    }
    if (typeof value === 'string' && value.startsWith('$')) {
      const name = value.slice(1);
      if (!cache.has(name)) cache.set(name, valueOf(name));
      const found = await cache.get(name);
      if (found !== undefined) return found;
      missing.push(name);
      return HINTS[name] ?? `<${name}>`;
    }
    if (typeof value === 'string') return value.replaceAll('{stamp}', stamp);
    return value;
  };
  return { variables: await resolve(example.variables), missing };
}

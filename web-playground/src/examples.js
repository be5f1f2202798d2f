// The contract's operations (schema/contract/operations, the repository's copy of the
// frontends' contract) as examples: grouped by file, each with the fragments it uses and
// sample variables that work against the demo data.
//
// Sample values written `$name` are looked up when the example is loaded (the first demo
// product, the signed-in customer's address, their latest order…), so they are real ids of
// whatever database the playground talks to. Ids from the playground's own results (an order
// just placed, a payment just started) are remembered and preferred.

import { Kind, parse, print, visit } from 'graphql';
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
const GROUP_ORDER = ['catalog', 'auth', 'cart', 'orders', 'payments', 'live', 'flash-sale', 'admin'];
const GROUP_TITLES = {
  catalog: 'Storefront: catalog',
  auth: 'Storefront: account',
  cart: 'Storefront: cart',
  orders: 'Storefront: orders',
  payments: 'Storefront: payments',
  live: 'Live (subscriptions)',
  'flash-sale': 'Storefront: flash sales',
  admin: 'Admin console',
};

const DEMO_CUSTOMER = 'demo@douyin-mall.dev';
const ADDRESS = {
  recipient: 'Demo Customer',
  phone: '+86 138 0000 0000',
  province: 'Beijing',
  city: 'Beijing',
  district: 'Chaoyang',
  line1: '1 Demo Road',
};

// Sample variables per operation; `who` says who may run it (shown in the list).
const SAMPLES = {
  CategoryTree: {},
  ProductList: { variables: { first: 10, sort: 'NEWEST' } },
  ProductDetail: { variables: { id: '$product' } },
  ProductsByIds: { variables: { ids: ['$product', '$otherProduct'] } },

  Register: {
    variables: { input: { email: '$newEmail', password: 'playground-password', displayName: 'Playground User' } },
  },
  Login: { variables: { input: { email: DEMO_CUSTOMER, password: 'demo-password' } } },
  RefreshToken: { variables: { refreshToken: '$refreshToken' } },
  Logout: { who: 'customer' },
  LogoutEverywhere: { who: 'customer' },
  Me: { who: 'customer' },
  UpdateProfile: { who: 'customer', variables: { input: { displayName: 'Demo Customer' } } },
  ChangePassword: {
    who: 'customer',
    variables: { input: { currentPassword: 'demo-password', newPassword: 'demo-password-2' } },
  },
  AddAddress: { who: 'customer', variables: { input: { ...ADDRESS, postalCode: '100000', isDefault: false } } },
  UpdateAddress: { who: 'customer', variables: { id: '$address', input: { ...ADDRESS, line1: '2 Demo Road' } } },
  DeleteAddress: { who: 'customer', variables: { id: '$address' } },

  MyCart: { who: 'customer' },
  MeWithCart: { who: 'customer' },
  AddToCart: { who: 'customer', variables: { productId: '$product', quantity: 1 } },
  SetCartQuantity: { who: 'customer', variables: { productId: '$product', quantity: 2 } },
  RemoveFromCart: { who: 'customer', variables: { productId: '$product' } },
  ClearCart: { who: 'customer' },

  Checkout: {
    who: 'customer',
    variables: { input: { idempotencyKey: '$key', items: [{ productId: '$product', quantity: 1 }] } },
  },
  OrderById: { who: 'customer', variables: { id: '$order' } },
  MyOrders: { who: 'customer', variables: { first: 10 } },
  CancelOrder: { who: 'customer', variables: { id: '$pendingOrder', reason: 'changed my mind' } },
  UpdateOrderAddress: { who: 'customer', variables: { id: '$pendingOrder', address: ADDRESS } },

  PayOrder: {
    who: 'customer',
    variables: { input: { orderId: '$pendingOrder', method: 'SANDBOX_CARD', idempotencyKey: '$key' } },
  },
  PaymentById: { who: 'customer', variables: { id: '$payment' } },

  WatchOrders: { who: 'customer', variables: {} },
  WatchPayment: { who: 'customer', variables: { id: '$payment' } },

  ActiveFlashSales: {},
  BuyFlashSale: {
    who: 'customer',
    variables: { input: { flashSaleId: '$flashSale', quantity: 1, addressId: '$address', idempotencyKey: '$key' } },
  },
  FlashSalePurchase: { who: 'customer', variables: { id: '$purchase' } },

  CreateCategory: { who: 'admin', variables: { input: { name: 'Playground category' } } },
  CreateProduct: {
    who: 'admin',
    variables: {
      input: {
        name: 'Playground product',
        description: 'Made in the playground.',
        price: 9900,
        categoryId: '$category',
        stock: 10,
      },
    },
  },
  UpdateProduct: { who: 'admin', variables: { id: '$product', input: { price: 8900 } } },
  ArchiveProduct: { who: 'admin', variables: { id: '$product' } },
  AdjustStock: { who: 'admin', variables: { productId: '$product', delta: 5, reason: 'restock' } },
  AdminProductStock: { who: 'admin', variables: { id: '$product' } },
  AdminUsers: { who: 'admin', variables: { first: 10, search: 'demo' } },
  BanUser: { who: 'admin', variables: { userId: '$demoCustomer', reason: 'playground test', until: '$inOneHour' } },
  UnbanUser: { who: 'admin', variables: { userId: '$demoCustomer' } },
  Roles: { who: 'admin' },
  UpsertRole: { who: 'admin', variables: { name: 'support', permissions: ['orders:read', 'payments:read'] } },
  SetUserRoles: { who: 'admin', variables: { userId: '$demoCustomer', roles: ['customer'] } },
  AdminOrders: { who: 'admin', variables: { first: 10 } },
  AdminPayment: { who: 'admin', variables: { id: '$payment' } },
  RefundPayment: {
    who: 'admin',
    variables: { input: { paymentId: '$payment', reason: 'playground refund', idempotencyKey: '$key' } },
  },
  CreateFlashSale: {
    who: 'admin',
    variables: {
      input: {
        productId: '$product',
        price: 100,
        quantity: 5,
        perUserLimit: 1,
        startsAt: '$now',
        endsAt: '$inOneHour',
      },
    },
  },
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
// Which result field holds which sample value.
const REMEMBER = {
  checkout: { id: ['order', 'pendingOrder'] },
  payOrder: { id: ['payment'] },
  purchaseFlashSale: { id: ['purchase'] },
  addAddress: { id: ['address'] },
  createProduct: { id: ['product'] },
  createCategory: { id: ['category'] },
  createFlashSale: { id: ['flashSale'] },
  // A refresh token from Login or Register run in the editor: RefreshToken then rotates
  // that one, never the panel's own session.
  login: { refreshToken: ['refreshToken'] },
  register: { refreshToken: ['refreshToken'] },
  refreshToken: { refreshToken: ['refreshToken'] },
};

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
    for (const [key, names] of Object.entries(values)) {
      const value = data[field]?.[key];
      if (typeof value === 'string') for (const name of names) remembered.set(name, value);
    }
  }
}

const first = (list) => (Array.isArray(list) && list.length ? list[0] : undefined);
const nodes = (connection) => connection?.edges?.map((edge) => edge.node) ?? [];

// How each `$name` is found when nothing was remembered; each answers an id or undefined.
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
  demoCustomer: '<sign in as the admin>',
  refreshToken: '<run Login or Register here first>',
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
  const resolve = async (value) => {
    if (Array.isArray(value)) return Promise.all(value.map(resolve));
    if (value && typeof value === 'object') {
      const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolve(v)]));
      return Object.fromEntries(entries);
    }
    if (typeof value === 'string' && value.startsWith('$')) {
      const name = value.slice(1);
      if (!cache.has(name)) cache.set(name, await valueOf(name));
      const found = cache.get(name);
      if (found !== undefined) return found;
      missing.push(name);
      return HINTS[name] ?? `<${name}>`;
    }
    return value;
  };
  return { variables: await resolve(example.variables), missing };
}

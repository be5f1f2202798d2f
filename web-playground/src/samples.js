// Sample variables of the contract's operations (the examples, src/examples.js), and who may
// run each. Values written `$name` are looked up when the example is loaded (examples.js,
// LOOKUPS); `{stamp}` inside a string becomes a stamp of that load.

export const DEMO_CUSTOMER = 'demo@douyin-mall.dev';
const ADDRESS = {
  recipient: 'Demo Customer',
  phone: '+86 138 0000 0000',
  province: 'Beijing',
  city: 'Beijing',
  district: 'Chaoyang',
  line1: '1 Demo Road',
};

const sizeColor = (size, color) => [
  { name: 'Size', value: size },
  { name: 'Color', value: color },
];

// Sample variables per operation; `who` says who may run it (shown in the list).
export const SAMPLES = {
  CategoryTree: {},
  ProductList: { variables: { first: 10, sort: 'NEWEST' } },
  ProductDetail: { variables: { id: '$product' } },
  ProductsByIds: { variables: { ids: ['$product', '$otherProduct'] } },
  // A product with several variants (Storage × Color, Size × Color…), and one of them in stock.
  ProductPage: { variables: { id: '$variantProduct' } },
  VariantById: { variables: { id: '$variant' } },
  // Its category, narrowed to its brand and its first option's first value: the facets list
  // the category's other brands and values with their counts (each ignores its own selection).
  ProductSearchPage: {
    variables: {
      first: 10,
      filter: {
        categoryId: '$variantCategory',
        brandIds: ['$variantBrand'],
        attributes: ['$variantOption'],
        inStock: true,
      },
      sort: 'PRICE_ASC',
    },
  },
  Brands: { variables: { categoryId: '$variantCategory' } },

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
  AddVariantToCart: {
    who: 'customer',
    variables: { productId: '$variantProduct', variantId: '$variant', quantity: 1 },
  },
  SetVariantQuantity: {
    who: 'customer',
    variables: { productId: '$variantProduct', variantId: '$variant', quantity: 2 },
  },
  RemoveVariantFromCart: { who: 'customer', variables: { productId: '$variantProduct', variantId: '$variant' } },

  Checkout: {
    who: 'customer',
    variables: { input: { idempotencyKey: '$key', items: [{ productId: '$product', quantity: 1 }] } },
  },
  OrderById: { who: 'customer', variables: { id: '$order' } },
  MyOrders: { who: 'customer', variables: { first: 10 } },
  CancelOrder: { who: 'customer', variables: { id: '$pendingOrder', reason: 'changed my mind' } },
  UpdateOrderAddress: { who: 'customer', variables: { id: '$pendingOrder', address: ADDRESS } },
  OrderReceipt: { who: 'customer', variables: { id: '$order' } },

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
  ActiveFlashSaleVariants: {},

  // The shopping assistant (in development its sandbox model, scripted: "find …", "my orders",
  // "buy N …", "add N … to my cart", "cancel order DM…", "what is in my cart", and in Chinese).
  // AskAssistant asks to buy: its proposal is what ConfirmAssistantAction and
  // DeclineAssistantAction act on (run it again for another); the conversation is remembered.
  AskAssistant: { who: 'customer', variables: { input: { text: 'buy 1 iPhone 15 Pro' } } },
  StreamAssistant: { who: 'customer', variables: { input: { text: 'find tea' } } },
  ConfirmAssistantAction: { who: 'customer', variables: { id: '$assistantAction', idempotencyKey: '$key' } },
  DeclineAssistantAction: { who: 'customer', variables: { id: '$assistantAction' } },
  AssistantConversation: { who: 'customer', variables: { id: '$assistantConversation' } },

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
  CreateBrand: {
    who: 'admin',
    variables: { input: { name: 'Playground Brand {stamp}', categoryIds: ['$category'] } },
  },
  // Size × Color with one size left without variants (AddProductVariant adds them); SKU codes
  // carry the stamp, so running it again makes another product instead of a CONFLICT.
  CreateProductWithVariants: {
    who: 'admin',
    variables: {
      input: {
        name: 'Playground T-shirt {stamp}',
        description: 'Made in the playground: Size × Color.',
        price: 9900,
        stock: 0,
        categoryId: '$category',
        brandId: '$brand',
        attributes: [{ name: 'Material', value: 'Cotton' }],
        options: [
          { name: 'Size', values: ['S', 'M', 'L'] },
          { name: 'Color', values: ['Black', 'White'] },
        ],
        variants: [
          { sku: 'PG-{stamp}-S-BLK', options: sizeColor('S', 'Black'), price: 9900, stock: 10 },
          { sku: 'PG-{stamp}-S-WHT', options: sizeColor('S', 'White'), price: 9900, stock: 10 },
          { sku: 'PG-{stamp}-M-BLK', options: sizeColor('M', 'Black'), price: 10900, stock: 5 },
          { sku: 'PG-{stamp}-M-WHT', options: sizeColor('M', 'White'), price: 10900, stock: 5 },
        ],
      },
    },
  },
  // A combination of option values the product has no variant for yet.
  AddProductVariant: {
    who: 'admin',
    variables: {
      productId: '$variantProduct',
      input: { sku: 'PG-{stamp}', options: '$freeOptions', price: 11900, stock: 10 },
    },
  },
  UpdateProductVariant: { who: 'admin', variables: { id: '$variant', input: { price: 8900 } } },
  AdjustVariantStock: {
    who: 'admin',
    variables: { productId: '$variantProduct', variantId: '$variant', delta: 5, reason: 'restock' },
  },
};

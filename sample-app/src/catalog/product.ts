export interface Product {
  id: number;
  name: string;
  category: string;
  price: number;
  updatedAt: Date;
}

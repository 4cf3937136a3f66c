pub struct Writer;
